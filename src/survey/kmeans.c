/*
 * kmeans.c: k-means clustering in the database.
 *
 * The points are read once (points.c) into one row-major float8 array;
 * Lloyd's iterations then run on it with Hamerly's bounds (G. Hamerly,
 * "Making k-means even faster", SDM 2010): each point keeps an upper bound
 * on the distance to its centroid and a lower bound on the distance to
 * every other, and the bounds move by how far the centroids move, so late
 * iterations compute almost no distances.  The cluster sums are updated
 * only for the points that move.
 *
 * Semantics follow scikit-learn's KMeans so that the benchmark compares
 * like with like: an iteration assigns the points to the current
 * centroids and moves the centroids to the means; the run stops when no
 * point moved (strict convergence), after max_iter iterations, or when the
 * squared centroid shift is at most tol times the mean per-column
 * variance; after a run stopped by tol or max_iter the points are assigned
 * once more to the final centroids.  An empty cluster takes the point
 * farthest from its centroid (among clusters of two or more points), as
 * scikit-learn relocates empty clusters.  Ties go to the lowest cluster.
 *
 * Seeding: k-means++ (Arthur and Vassilvitskii, SODA 2007) in its greedy
 * form with 2 + ln k candidates per step, as scikit-learn does, or k
 * distinct points drawn uniformly, from PostgreSQL's PRNG seeded by the
 * seed argument, so a run is deterministic.
 */
#include "core/mekatek.h"
#include "survey/kmeans.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

/* Interrupt checks every this many points inside a pass. */
#define SV_CHECK_EVERY 65536

void
sv_check_distinct(const SvPoints *p, int k)
{
	int64	   *seen = palloc(sizeof(int64) * k);
	int			nseen = 0;

	for (int64 i = 0; i < p->n && nseen < k; i++)
	{
		const double *x = p->x + i * p->d;
		bool		dup = false;

		if ((i & (SV_CHECK_EVERY - 1)) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int s = 0; s < nseen && !dup; s++)
			dup = sv_dist2(x, p->x + seen[s] * p->d, p->d) == 0;
		if (!dup)
			seen[nseen++] = i;
	}
	pfree(seen);
	if (nseen < k)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Ask for fewer clusters than there are distinct points.",
				 "argument \"k\" (%d) is more than the %d distinct points of %lld",
				 k, nseen, (long long) p->n);
}

/* Half the distance from each centroid to its nearest other centroid. */
static void
sv_half_gaps(const double *c, int k, int d, double *s)
{
	for (int a = 0; a < k; a++)
		s[a] = DBL_MAX;
	for (int a = 0; a < k; a++)
		for (int b = a + 1; b < k; b++)
		{
			double		t = 0.5 * sqrt(sv_dist2(c + (Size) a * d, c + (Size) b * d, d));

			if (t < s[a])
				s[a] = t;
			if (t < s[b])
				s[b] = t;
		}
	if (k == 1)
		s[0] = DBL_MAX;
}

/*
 * The full scan of a point against every centroid is the inner loop of
 * k-means.  The centroids are copied, per iteration, into blocks of eight
 * stored coordinate-major (block b, coordinate t: the t-th coordinates of
 * centroids 8b .. 8b+7 side by side), so that one pass over the point's
 * coordinates feeds eight independent sums held in four two-wide vectors
 * (GCC's vector extension: SSE2 on x86-64, NEON on arm64, plain code
 * elsewhere).  Each sum still adds its terms in coordinate order, so every
 * distance is bit-identical to sv_dist2's.  Padding centroids sit at
 * 1e300: their distance is infinite and never chosen.
 */
#define SV_BLOCK 8
typedef double sv_v2 __attribute__((vector_size(16)));

typedef struct SvBlocks
{
	int			nblocks;
	double	   *m;				/* nblocks x d x SV_BLOCK, 16-byte aligned */
	void	   *raw;
} SvBlocks;

static void
sv_blocks_init(SvBlocks *b, int k, int d)
{
	b->nblocks = (k + SV_BLOCK - 1) / SV_BLOCK;
	b->raw = palloc(sizeof(double) * ((Size) b->nblocks * d * SV_BLOCK + 2));
	b->m = (double *) TYPEALIGN(16, b->raw);
}

static void
sv_blocks_fill(SvBlocks *b, const double *c, int k, int d)
{
	for (int blk = 0; blk < b->nblocks; blk++)
		for (int t = 0; t < d; t++)
			for (int q = 0; q < SV_BLOCK; q++)
			{
				int			j = blk * SV_BLOCK + q;

				b->m[((Size) blk * d + t) * SV_BLOCK + q] = j < k ? c[(Size) j * d + t] : 1e300;
			}
}

/* Nearest centroid of x, and the nearest and second nearest distances. */
static inline int
sv_scan(const double *x, const SvBlocks *b, int k, int d, double *d1, double *d2)
{
	int			best = 0;
	double		b1 = DBL_MAX,
				b2 = DBL_MAX;

	for (int blk = 0; blk < b->nblocks; blk++)
	{
		const sv_v2 *m = (const sv_v2 *) (b->m + (Size) blk * d * SV_BLOCK);
		sv_v2		s0 = {0, 0},
					s1 = {0, 0},
					s2 = {0, 0},
					s3 = {0, 0};
		double		dist[SV_BLOCK];

		for (int t = 0; t < d; t++, m += SV_BLOCK / 2)
		{
			sv_v2		xv = {x[t], x[t]};
			sv_v2		e0 = xv - m[0],
						e1 = xv - m[1],
						e2 = xv - m[2],
						e3 = xv - m[3];

			s0 += e0 * e0;
			s1 += e1 * e1;
			s2 += e2 * e2;
			s3 += e3 * e3;
		}
		memcpy(dist, &s0, sizeof(s0));
		memcpy(dist + 2, &s1, sizeof(s1));
		memcpy(dist + 4, &s2, sizeof(s2));
		memcpy(dist + 6, &s3, sizeof(s3));
		for (int q = 0; q < SV_BLOCK && blk * SV_BLOCK + q < k; q++)
		{
			double		t = dist[q];

			if (t < b1)
			{
				b2 = b1;
				b1 = t;
				best = blk * SV_BLOCK + q;
			}
			else if (t < b2)
				b2 = t;
		}
	}
	*d1 = sqrt(b1);
	*d2 = (k > 1) ? sqrt(b2) : DBL_MAX;
	return best;
}

typedef struct SvWork
{
	SvPoints   *p;
	int			k;
	int			d;
	double	   *c;				/* current centroids */
	SvBlocks	blocks;			/* the same, laid out for sv_scan */
	double	   *cnew;
	double	   *sums;			/* k x d, for the current assignment */
	int64	   *counts;
	double	   *upper;
	double	   *lower;
	double	   *s;
	double	   *shift;
	int32	   *assign;
	/* The last update's centroid shifts, applied to the bounds lazily. */
	bool		pending;
	double		max1;			/* largest shift, of centroid arg1 */
	double		max2;			/* second largest */
	int			arg1;
	/* Skip the tightening of u when it rarely saves the full scan. */
	bool		direct;
} SvWork;

static inline void
sv_move(SvWork *w, const double *x, int from, int to)
{
	double	   *sf = w->sums + (Size) from * w->d;
	double	   *st = w->sums + (Size) to * w->d;

	for (int j = 0; j < w->d; j++)
	{
		sf[j] -= x[j];
		st[j] += x[j];
	}
	w->counts[from]--;
	w->counts[to]++;
}

/* One assignment pass with the bounds; returns the points that moved. */
static int64
sv_assign_pass(SvWork *w, bool first)
{
	SvPoints   *p = w->p;
	int			k = w->k,
				d = w->d;
	int64		moved = 0;
	int64		full = 0,
				tight_enough = 0;

	if (first)
	{
		memset(w->sums, 0, sizeof(double) * k * d);
		memset(w->counts, 0, sizeof(int64) * k);
	}
	else
		sv_half_gaps(w->c, k, d, w->s);
	sv_blocks_fill(&w->blocks, w->c, k, d);

	for (int64 i = 0; i < p->n; i++)
	{
		const double *x = p->x + i * d;
		int			a;
		double		m,
					d1,
					d2;
		int			b;

		if ((i & (SV_CHECK_EVERY - 1)) == 0)
			CHECK_FOR_INTERRUPTS();
		if (first)
		{
			b = sv_scan(x, &w->blocks, k, d, &d1, &d2);
			w->assign[i] = b;
			w->upper[i] = d1;
			w->lower[i] = d2;
			for (int j = 0; j < d; j++)
				w->sums[(Size) b * d + j] += x[j];
			w->counts[b]++;
			moved++;
			continue;
		}
		a = w->assign[i];
		if (w->pending)
		{
			w->upper[i] += w->shift[a];
			w->lower[i] -= (a == w->arg1) ? w->max2 : w->max1;
		}
		m = Max(w->s[a], w->lower[i]);
		if (w->upper[i] <= m)
			continue;
		if (!w->direct)
		{
			w->upper[i] = sqrt(sv_dist2(x, w->c + (Size) a * d, d));
			if (w->upper[i] <= m)
				continue;
		}
		b = sv_scan(x, &w->blocks, k, d, &d1, &d2);
		full++;
		/* Would the exact distance to a alone have kept a? */
		tight_enough += (b == a && d1 <= m);
		w->upper[i] = d1;
		w->lower[i] = d2;
		if (b != a)
		{
			sv_move(w, x, a, b);
			w->assign[i] = b;
			moved++;
		}
	}
	w->pending = false;

	/*
	 * Early on, when centroids move far, nearly every point whose bounds
	 * fail needs the full scan anyway: then go straight to it, and go back
	 * to tightening first once that would save most scans.  Either way the
	 * assignment is exact.
	 */
	if (!first && full > 0)
		w->direct = tight_enough * 2 < full;
	return moved;
}

/*
 * New centroids from the sums; an empty cluster takes the point farthest
 * from its (current) centroid.  Returns the squared shift of all
 * centroids and updates the bounds by each centroid's shift.
 */
static double
sv_update(SvWork *w)
{
	SvPoints   *p = w->p;
	int			k = w->k,
				d = w->d;
	double		total = 0,
				max1 = 0,
				max2 = 0;
	int			arg1 = -1;

	for (int j = 0; j < k; j++)
	{
		if (w->counts[j] > 0)
			continue;
		/* Relocate: the farthest point of a cluster that can spare one. */
		{
			int64		far = -1;
			double		fd = -1;

			for (int64 i = 0; i < p->n; i++)
			{
				double		t;

				if ((i & (SV_CHECK_EVERY - 1)) == 0)
					CHECK_FOR_INTERRUPTS();
				if (w->counts[w->assign[i]] < 2)
					continue;
				t = sv_dist2(p->x + i * d, w->c + (Size) w->assign[i] * d, d);
				if (t > fd)
				{
					fd = t;
					far = i;
				}
			}
			if (far < 0)
				elog(ERROR, "k-means: no point to relocate to an empty cluster");
			sv_move(w, p->x + far * d, w->assign[far], j);
			w->assign[far] = j;
			w->upper[far] = 0;
			w->lower[far] = 0;
		}
	}
	for (int j = 0; j < k; j++)
	{
		double		sh;

		for (int t = 0; t < d; t++)
			w->cnew[(Size) j * d + t] = w->sums[(Size) j * d + t] / w->counts[j];
		sh = sv_dist2(w->cnew + (Size) j * d, w->c + (Size) j * d, d);
		total += sh;
		sh = sqrt(sh);
		w->shift[j] = sh;
		if (sh > max1)
		{
			max2 = max1;
			max1 = sh;
			arg1 = j;
		}
		else if (sh > max2)
			max2 = sh;
	}
	memcpy(w->c, w->cnew, sizeof(double) * k * d);
	/* The bounds move by these shifts at the start of the next pass. */
	w->pending = true;
	w->max1 = max1;
	w->max2 = max2;
	w->arg1 = arg1;
	return total;
}

void
sv_kmeans_lloyd(SvPoints *p, int k, const double *init, int max_iter, double tol_abs,
				SvKmeans *out)
{
	SvWork		w;
	int			d = p->d;
	int			it;
	int64		moved = p->n;
	bool		strict = false;

	w.p = p;
	w.k = k;
	w.d = d;
	w.c = palloc(sizeof(double) * k * d);
	memcpy(w.c, init, sizeof(double) * k * d);
	sv_blocks_init(&w.blocks, k, d);
	w.cnew = palloc(sizeof(double) * k * d);
	w.sums = palloc(sizeof(double) * k * d);
	w.counts = palloc(sizeof(int64) * k);
	w.s = palloc(sizeof(double) * k);
	w.shift = palloc(sizeof(double) * k);
	w.upper = palloc_extended(sizeof(double) * Max(p->n, 1), MCXT_ALLOC_HUGE);
	w.lower = palloc_extended(sizeof(double) * Max(p->n, 1), MCXT_ALLOC_HUGE);
	w.assign = out->assign;
	w.pending = false;
	w.direct = true;

	for (it = 0; it < max_iter;)
	{
		double		shift2;

		CHECK_FOR_INTERRUPTS();
		moved = sv_assign_pass(&w, it == 0);
		it++;
		if (it > 1 && moved == 0)
		{
			/* Same labels as before: the centroids are their means already. */
			strict = true;
			break;
		}
		shift2 = sv_update(&w);
		if (shift2 <= tol_abs)
			break;
	}
	if (!strict)
	{
		int64		last = sv_assign_pass(&w, false);

		if (it == max_iter || last > 0)
			moved = last;
	}

	/* Objective and per-cluster variance exactly, from the final labels. */
	out->k = k;
	out->d = d;
	out->centroids = w.c;
	out->variance = palloc0(sizeof(double) * k);
	out->objective = 0;
	for (int64 i = 0; i < p->n; i++)
	{
		if ((i & (SV_CHECK_EVERY - 1)) == 0)
			CHECK_FOR_INTERRUPTS();
		out->variance[w.assign[i]] += sv_dist2(p->x + i * d, w.c + (Size) w.assign[i] * d, d);
	}
	for (int j = 0; j < k; j++)
		out->objective += out->variance[j];
	out->frac_reassigned = p->n > 0 ? (double) (strict ? 0 : moved) / p->n : 0;
	out->iterations = it;
	pfree(w.cnew);
	pfree(w.sums);
	pfree(w.counts);
	pfree(w.s);
	pfree(w.shift);
	pfree(w.upper);
	pfree(w.lower);
	pfree(w.blocks.raw);
}

/* k-means++ seeding, greedy: the best of 2 + ln k candidates per step. */
static void
sv_seed_kmeanspp(const SvPoints *p, int k, pg_prng_state *rng, double *c)
{
	int			d = p->d;
	int64		n = p->n;
	int			trials = 2 + (int) log(k);
	double	   *closest = palloc_extended(sizeof(double) * n, MCXT_ALLOC_HUGE);
	double	   *cand = palloc_extended(sizeof(double) * n, MCXT_ALLOC_HUGE);
	double	   *best = palloc_extended(sizeof(double) * n, MCXT_ALLOC_HUGE);
	double		pot = 0;
	int64		first = (int64) pg_prng_uint64_range(rng, 0, n - 1);

	memcpy(c, p->x + first * d, sizeof(double) * d);
	for (int64 i = 0; i < n; i++)
	{
		closest[i] = sv_dist2(p->x + i * d, c, d);
		pot += closest[i];
	}
	for (int j = 1; j < k; j++)
	{
		double		bestpot = DBL_MAX;
		int64		bestidx = -1;

		for (int t = 0; t < trials; t++)
		{
			double		r = pg_prng_double(rng) * pot;
			double		acc = 0;
			int64		idx = n - 1;
			double		cp = 0;
			const double *y;

			CHECK_FOR_INTERRUPTS();
			for (int64 i = 0; i < n; i++)
			{
				acc += closest[i];
				if (acc > r && closest[i] > 0)
				{
					idx = i;
					break;
				}
			}
			/* Rounding at the end: the last point with weight. */
			while (closest[idx] == 0 && idx > 0)
				idx--;
			y = p->x + idx * d;
			for (int64 i = 0; i < n; i++)
			{
				double		t2 = sv_dist2(p->x + i * d, y, d);

				cand[i] = t2 < closest[i] ? t2 : closest[i];
				cp += cand[i];
			}
			if (cp < bestpot)
			{
				double	   *sw = best;

				bestpot = cp;
				bestidx = idx;
				best = cand;
				cand = sw;
			}
		}
		memcpy(c + (Size) j * d, p->x + bestidx * d, sizeof(double) * d);
		memcpy(closest, best, sizeof(double) * n);
		pot = bestpot;
	}
	pfree(closest);
	pfree(cand);
	pfree(best);
}

/* k distinct points drawn uniformly. */
static void
sv_seed_random(const SvPoints *p, int k, pg_prng_state *rng, double *c)
{
	int			d = p->d;
	int			got = 0;
	int64		tries = 0;

	while (got < k)
	{
		int64		i = (int64) pg_prng_uint64_range(rng, 0, p->n - 1);
		const double *x = p->x + i * d;
		bool		dup = false;

		CHECK_FOR_INTERRUPTS();
		for (int s = 0; s < got && !dup; s++)
			dup = sv_dist2(x, c + (Size) s * d, d) == 0;
		if (!dup)
			memcpy(c + (Size) got++ * d, x, sizeof(double) * d);
		else if (++tries > (int64) 64 * k + p->n)
		{
			/* Heavy duplication: take the first distinct points in order. */
			for (int64 q = 0; q < p->n && got < k; q++)
			{
				bool		dq = false;

				for (int s = 0; s < got && !dq; s++)
					dq = sv_dist2(p->x + q * d, c + (Size) s * d, d) == 0;
				if (!dq)
					memcpy(c + (Size) got++ * d, p->x + q * d, sizeof(double) * d);
			}
		}
	}
}

/* ---------------------------------------------------------------------
 * SQL: mekatek.kmeans
 */

/* Standardise given centroids the way the points were. */
static void
sv_scale_rows(double *c, int k, int d, const double *mean, const double *scale, bool forward)
{
	for (int i = 0; i < k; i++)
		for (int j = 0; j < d; j++)
			c[(Size) i * d + j] = forward ? (c[(Size) i * d + j] - mean[j]) / scale[j]
				: c[(Size) i * d + j] * scale[j] + mean[j];
}

/* scikit-learn's tolerance: tol times the mean of the columns' variances. */
static double
sv_tolerance(const SvPoints *p, double tol)
{
	double		sum = 0;

	if (tol == 0 || p->n == 0)
		return 0;
	for (int j = 0; j < p->d; j++)
	{
		double		m = 0,
					ss = 0;

		for (int64 i = 0; i < p->n; i++)
			m += p->x[i * p->d + j];
		m /= p->n;
		for (int64 i = 0; i < p->n; i++)
		{
			double		t = p->x[i * p->d + j] - m;

			ss += t * t;
		}
		sum += ss / p->n;
	}
	return tol * sum / p->d;
}

PG_FUNCTION_INFO_V1(mk_kmeans);
Datum
mk_kmeans(PG_FUNCTION_ARGS)
{
	char	   *query = mk_arg_cstring(fcinfo, 0, "points", false);
	int			k;
	char	   *init = mk_arg_cstring(fcinfo, 2, "init", false);
	int			max_iter = mk_arg_int32_range(fcinfo, 3, "max_iter", 1, PG_INT32_MAX);
	double		tol = mk_arg_float8_range(fcinfo, 4, "tol", 0, DBL_MAX);
	int			n_init = mk_arg_int32_range(fcinfo, 5, "n_init", 1, 10000);
	int64		seed;
	bool		given = !PG_ARGISNULL(7);
	bool		standardize;
	double	   *gc = NULL;
	int			gk = 0,
				gd = 0;
	SvPoints	p;
	double	   *mean = NULL,
			   *scale = NULL;
	double		tol_abs;
	pg_prng_state rng;
	SvKmeans	best = {0};
	double	   *c;
	int32	   *assign;
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {0};
	ArrayType  *var;
	MemoryContext caller;
	Datum		result;

	k = mk_arg_int32_range(fcinfo, 1, "k", 1, 1000000);
	mk_arg_not_null(fcinfo, 6, "seed");
	seed = PG_GETARG_INT64(6);
	mk_arg_not_null(fcinfo, 8, "standardize");
	standardize = PG_GETARG_BOOL(8);
	if (strcmp(init, "kmeans++") != 0 && strcmp(init, "random") != 0 &&
		strcmp(init, "given") != 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "init is 'kmeans++', 'random', or 'given' with initial_centroids.",
				 "argument \"init\" must be 'kmeans++', 'random' or 'given', not \"%.40s\"", init);
	if (strcmp(init, "given") == 0 && !given)
		mk_error(ERRCODE_NULL_VALUE_NOT_ALLOWED, "Pass the centroids as initial_centroids.",
				 "init 'given' needs argument \"initial_centroids\"");
	if (given)
	{
		gc = sv_matrix_arg(PG_GETARG_ARRAYTYPE_P(7), "initial_centroids", &gk, &gd);
		if (gk != k)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
					 "argument \"initial_centroids\" has %d rows but k is %d", gk, k);
	}
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "mekatek.kmeans must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	caller = CurrentMemoryContext;
	SPI_connect();
	sv_points_load(&p, query, "points", SV_WANT_ID);
	if (p.n == 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "the points query returned no rows");
	if (given && gd != p.d)
		mk_error(ERRCODE_ARRAY_SUBSCRIPT_ERROR, NULL,
				 "argument \"initial_centroids\" has %d columns but the points have %d coordinates",
				 gd, p.d);
	sv_reserve(&p, (Size) p.n * (3 * sizeof(double) + 2 * sizeof(int32)), "k-means");
	sv_check_distinct(&p, k);
	if (standardize)
	{
		mean = palloc(sizeof(double) * p.d);
		scale = palloc(sizeof(double) * p.d);
		sv_standardize(&p, mean, scale);
		if (given)
			sv_scale_rows(gc, k, p.d, mean, scale, true);
	}
	tol_abs = sv_tolerance(&p, tol);
	pg_prng_seed(&rng, (uint64) seed);

	c = palloc(sizeof(double) * k * p.d);
	assign = palloc_extended(sizeof(int32) * p.n, MCXT_ALLOC_HUGE);
	best.assign = palloc_extended(sizeof(int32) * p.n, MCXT_ALLOC_HUGE);
	for (int r = 0; r < (given ? 1 : n_init); r++)
	{
		SvKmeans	run = {0};

		if (given)
			memcpy(c, gc, sizeof(double) * k * p.d);
		else if (strcmp(init, "random") == 0)
			sv_seed_random(&p, k, &rng, c);
		else
			sv_seed_kmeanspp(&p, k, &rng, c);
		run.assign = assign;
		sv_kmeans_lloyd(&p, k, c, max_iter, tol_abs, &run);
		if (r == 0 || run.objective < best.objective)
		{
			int32	   *keep = best.assign;

			best = run;
			assign = keep;
		}
	}
	if (standardize)
		sv_scale_rows(best.centroids, k, p.d, mean, scale, false);

	/* The result outlives SPI's memory: build it in the caller's context. */
	MemoryContextSwitchTo(caller);
	values[0] = PointerGetDatum(sv_matrix_datum(best.centroids, k, p.d));
	{
		Datum	   *ev = palloc(sizeof(Datum) * k);

		for (int j = 0; j < k; j++)
			ev[j] = Float8GetDatum(best.variance[j]);
		var = construct_array(ev, k, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	}
	values[1] = PointerGetDatum(var);
	values[2] = Float8GetDatum(best.objective);
	values[3] = Float8GetDatum(best.frac_reassigned);
	values[4] = Int32GetDatum(best.iterations);
	result = HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/* ---------------------------------------------------------------------
 * SQL: mekatek.kmeans_assign: each point's nearest centroid.
 */
PG_FUNCTION_INFO_V1(mk_kmeans_assign);
Datum
mk_kmeans_assign(PG_FUNCTION_ARGS)
{
	char	   *query = mk_arg_cstring(fcinfo, 0, "points", false);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	double	   *c;
	int			k,
				d;
	bool		standardize;
	SvPoints	p;

	mk_arg_not_null(fcinfo, 1, "centroids");
	mk_arg_not_null(fcinfo, 2, "standardize");
	standardize = PG_GETARG_BOOL(2);
	c = sv_matrix_arg(PG_GETARG_ARRAYTYPE_P(1), "centroids", &k, &d);
	if (k < 1 || d < 1)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL, "argument \"centroids\" is empty");
	InitMaterializedSRF(fcinfo, 0);

	SPI_connect();
	sv_points_load(&p, query, "points", SV_WANT_ID);
	if (p.n > 0 && p.d != d)
		mk_error(ERRCODE_ARRAY_SUBSCRIPT_ERROR, NULL,
				 "argument \"centroids\" has %d columns but the points have %d coordinates",
				 d, p.d);
	if (standardize && p.n > 0)
	{
		double	   *mean = palloc(sizeof(double) * d);
		double	   *scale = palloc(sizeof(double) * d);

		sv_standardize(&p, mean, scale);
		sv_scale_rows(c, k, d, mean, scale, true);
	}
	for (int64 i = 0; i < p.n; i++)
	{
		Datum		v[3];
		bool		nl[3] = {0};
		double		dist2;

		if ((i & (SV_CHECK_EVERY - 1)) == 0)
			CHECK_FOR_INTERRUPTS();
		v[1] = Int32GetDatum(sv_nearest(p.x + i * d, c, k, d, &dist2));
		v[0] = Int64GetDatum(p.id[i]);
		v[2] = Float8GetDatum(sqrt(dist2));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nl);
	}
	SPI_finish();
	return (Datum) 0;
}
