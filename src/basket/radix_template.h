/*
 * radix_template.h: an in-place most-significant-byte-first radix sort of
 * unsigned integer keys (American flag sort: count the byte values, then
 * cycle each key into its bucket), so no second buffer is needed; buckets
 * of a few keys are left to a comparison sort.  On millions of rule keys
 * this is several times faster than comparing.  The engine sorts 8-byte
 * and 4-byte keys, so the sort is written once and included per width, in
 * the way of lib/sort_template.h:
 *
 *     #define RX_NAME bk_sort_u32      (defines bk_sort_u32(uint32 *, int64))
 *     #define RX_TYPE uint32
 *     #include "basket/radix_template.h"
 */
#define RX_CAT2(a, b) a##b
#define RX_CAT(a, b) RX_CAT2(a, b)
#define RX_FN(x) RX_CAT(RX_NAME, x)

#define ST_SORT RX_FN(_small)
#define ST_ELEMENT_TYPE RX_TYPE
#define ST_COMPARE(a, b) (*(a) < *(b) ? -1 : *(a) > *(b) ? 1 : 0)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

static void
RX_FN(_rec) (RX_TYPE *a, int64 n, int shift)
{
	int64		cnt[256];
	int64		head[256];
	int64		end[256];
	int64		at;

	for (;;)
	{
		int			one = -1;

		if (n <= 48 || shift < 0)
		{
			if (shift < 0 || n < 2)
				return;
			if (n > 32)
			{
				RX_FN(_small) (a, n);
				return;
			}
			/* most buckets end this small: an inline insertion sort */
			for (int64 i = 1; i < n; i++)
			{
				RX_TYPE		v = a[i];
				int64		j = i;

				for (; j > 0 && a[j - 1] > v; j--)
					a[j] = a[j - 1];
				a[j] = v;
			}
			return;
		}
		memset(cnt, 0, sizeof(cnt));
		for (int64 i = 0; i < n; i++)
			cnt[(a[i] >> shift) & 0xff]++;
		for (int b = 0; b < 256; b++)
			if (cnt[b] == n)
				one = b;
		if (one < 0)
			break;
		/* every key has this byte: go on with the next */
		shift -= 8;
	}
	at = 0;
	for (int b = 0; b < 256; b++)
	{
		head[b] = at;
		at += cnt[b];
		end[b] = at;
	}
	for (int b = 0; b < 256; b++)
	{
		while (head[b] < end[b])
		{
			RX_TYPE		v = a[head[b]];
			int			d = (int) ((v >> shift) & 0xff);

			while (d != b)
			{
				RX_TYPE		t = a[head[d]];

				a[head[d]++] = v;
				v = t;
				d = (int) ((v >> shift) & 0xff);
			}
			a[head[b]++] = v;
		}
	}
	if (n > 65536)
		CHECK_FOR_INTERRUPTS();
	at = 0;
	for (int b = 0; b < 256; b++)
	{
		RX_FN(_rec) (a + at, cnt[b], shift - 8);
		at += cnt[b];
	}
}

/* Sort a[0 .. n-1] ascending, starting at the highest byte any key uses. */
static void
RX_NAME(RX_TYPE *a, int64 n)
{
	RX_TYPE		any = 0;
	int			shift = 0;

	for (int64 i = 0; i < n; i++)
		any |= a[i];
	while (shift < (int) (8 * sizeof(RX_TYPE)) - 8 && (any >> (shift + 8)) != 0)
		shift += 8;
	RX_FN(_rec) (a, n, shift);
}

#undef RX_FN
#undef RX_CAT
#undef RX_CAT2
#undef RX_NAME
#undef RX_TYPE
