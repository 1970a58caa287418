/*
 * sphere.c: great-circle distance and the geo_cell index key.
 *
 * haversine_km is the haversine formula written so that no step cancels:
 * with a = sin^2(dlat/2) + cos(lat1) cos(lat2) sin^2(dlon/2) the usual
 * 2 asin(sqrt(a)) loses all precision near antipodes (asin is flat at 1)
 * and 1 - a cancels there too.  The complement has a cancellation-free
 * form of its own,
 *     1 - a = cos^2(dlat/2) cos^2(dlon/2) + sin^2(dlon/2) sin^2((lat1+lat2)/2),
 * so the angle 2 atan2(sqrt(a), sqrt(1 - a)) is accurate to a few ulps for
 * every pair, from millimetres to exact antipodes.  Differences are taken in
 * degrees before the conversion to radians, so that nearby inputs subtract
 * exactly; a longitude difference that crosses the antimeridian is rebuilt
 * from exact partial differences for the same reason.
 *
 * geo_cell is an axis-aligned box in 3-D space around points of the unit
 * sphere (a point is a box of zero size).  Chord length between unit vectors
 * orders pairs exactly like great-circle distance, so a GiST index over
 * these boxes answers "nearest first" with no special case for poles or the
 * antimeridian: longitude 180 and -180 are the same vector.
 */
#include "core/mekatek.h"
#include "geo/geo.h"

#include <float.h>
#include <math.h>

#include "access/gist.h"
#include "access/stratnum.h"
#include "utils/builtins.h"
#include "utils/float.h"

#define MK_DEG2RAD (M_PI / 180.0)

/* Cosine of a latitude in degrees; exactly 0 at the poles so that every
 * longitude of a pole is the same point. */
static inline double
mk_cos_lat(double lat)
{
	return fabs(lat) == 90.0 ? 0.0 : cos(lat * MK_DEG2RAD);
}

/* lon2 - lon1 in degrees, reduced to [-180, 180] without rounding away a
 * small difference across the antimeridian. */
static inline double
mk_dlon(double lon1, double lon2)
{
	double		d = lon2 - lon1;

	if (d > 180.0)
		d = (lon2 - 180.0) - (lon1 + 180.0);
	else if (d < -180.0)
		d = (lon2 + 180.0) - (lon1 - 180.0);
	return d;
}

double
mk_geo_angle(double lat1, double lon1, double lat2, double lon2)
{
	double		sdlat = sin((lat2 - lat1) * (MK_DEG2RAD / 2));
	double		cdlat = cos((lat2 - lat1) * (MK_DEG2RAD / 2));
	double		half_dlon = mk_dlon(lon1, lon2) * (MK_DEG2RAD / 2);
	double		sdlon = sin(half_dlon);
	double		cdlon = cos(half_dlon);
	double		smean = sin((lat1 + lat2) * (MK_DEG2RAD / 2));
	double		a,
				ac;

	a = sdlat * sdlat + mk_cos_lat(lat1) * mk_cos_lat(lat2) * sdlon * sdlon;
	ac = cdlat * cdlat * cdlon * cdlon + sdlon * sdlon * smean * smean;
	return 2.0 * atan2(sqrt(a), sqrt(ac));
}

void
mk_geo_check_latlon(double lat, double lon, const char *latname, const char *lonname)
{
	if (isnan(lat) || lat < -90.0 || lat > 90.0)
		mk_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
				 "Latitude is in degrees, from -90 (south pole) to 90 (north pole).",
				 "%s %s is out of range [-90, 90]", latname, float8out_internal(lat));
	if (isnan(lon) || lon < -180.0 || lon > 180.0)
		mk_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
				 "Longitude is in degrees, from -180 to 180 (east is positive).",
				 "%s %s is out of range [-180, 180]", lonname, float8out_internal(lon));
}

PG_FUNCTION_INFO_V1(mk_geo_haversine_km);
Datum
mk_geo_haversine_km(PG_FUNCTION_ARGS)
{
	double		lat1 = PG_GETARG_FLOAT8(0);
	double		lon1 = PG_GETARG_FLOAT8(1);
	double		lat2 = PG_GETARG_FLOAT8(2);
	double		lon2 = PG_GETARG_FLOAT8(3);
	double		radius = PG_GETARG_FLOAT8(4);

	mk_geo_check_latlon(lat1, lon1, "lat1", "lon1");
	mk_geo_check_latlon(lat2, lon2, "lat2", "lon2");
	if (!(radius > 0.0) || isinf(radius))
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "The mean Earth radius is 6371 km.",
				 "radius_km %s must be positive and finite", float8out_internal(radius));
	PG_RETURN_FLOAT8(radius * mk_geo_angle(lat1, lon1, lat2, lon2));
}

/* ---------------------------------------------------------------- geo_cell */

void
mk_geo_cell_set(MkGeoCell *c, double lat, double lon)
{
	double		cl = mk_cos_lat(lat);
	double		v[3];

	v[0] = cl * cos(lon * MK_DEG2RAD);
	v[1] = cl * sin(lon * MK_DEG2RAD);
	v[2] = sin(lat * MK_DEG2RAD);
	for (int i = 0; i < 3; i++)
		c->lo[i] = c->hi[i] = v[i];
}

static inline bool
mk_cell_is_point(const MkGeoCell *c)
{
	return c->lo[0] == c->hi[0] && c->lo[1] == c->hi[1] && c->lo[2] == c->hi[2];
}

/*
 * Great-circle distance in km (radius 6371) between two cells: exact
 * between points, otherwise a lower bound over every pair of sphere points
 * the two boxes can hold.  GiST relies on the bound: an inner key must never
 * be farther than a leaf below it, so the chord is shrunk by more than its
 * rounding error before asin, whose slope is unbounded near antipodes.
 */
double
mk_geo_cell_distance_km(const MkGeoCell *a, const MkGeoCell *b)
{
	double		chord2 = 0.0;
	double		chord;

	if (mk_cell_is_point(a) && mk_cell_is_point(b))
	{
		const double *p = a->lo,
				   *q = b->lo;
		double		cx = p[1] * q[2] - p[2] * q[1];
		double		cy = p[2] * q[0] - p[0] * q[2];
		double		cz = p[0] * q[1] - p[1] * q[0];
		double		dot = p[0] * q[0] + p[1] * q[1] + p[2] * q[2];

		return MK_GEO_EARTH_KM * atan2(sqrt(cx * cx + cy * cy + cz * cz), dot);
	}
	for (int i = 0; i < 3; i++)
	{
		double		gap = 0.0;

		if (a->hi[i] < b->lo[i])
			gap = b->lo[i] - a->hi[i];
		else if (b->hi[i] < a->lo[i])
			gap = a->lo[i] - b->hi[i];
		chord2 += gap * gap;
	}
	chord = sqrt(chord2) - 1e-12;
	if (chord <= 0.0)
		return 0.0;
	return MK_GEO_EARTH_KM * 2.0 * asin(Min(1.0, chord / 2.0));
}

static bool
mk_cell_overlaps(const MkGeoCell *a, const MkGeoCell *b)
{
	for (int i = 0; i < 3; i++)
		if (a->hi[i] < b->lo[i] || b->hi[i] < a->lo[i])
			return false;
	return true;
}

static void
mk_cell_extend(MkGeoCell *acc, const MkGeoCell *c)
{
	for (int i = 0; i < 3; i++)
	{
		acc->lo[i] = Min(acc->lo[i], c->lo[i]);
		acc->hi[i] = Max(acc->hi[i], c->hi[i]);
	}
}

/* Sum of the edges: unlike volume it still ranks boxes that are flat, which
 * boxes of points on a small patch of sphere nearly are. */
static double
mk_cell_margin(const MkGeoCell *c)
{
	return (c->hi[0] - c->lo[0]) + (c->hi[1] - c->lo[1]) + (c->hi[2] - c->lo[2]);
}

PG_FUNCTION_INFO_V1(mk_geo_cell_make);
Datum
mk_geo_cell_make(PG_FUNCTION_ARGS)
{
	double		lat = PG_GETARG_FLOAT8(0);
	double		lon = PG_GETARG_FLOAT8(1);
	MkGeoCell  *c = palloc(sizeof(MkGeoCell));

	mk_geo_check_latlon(lat, lon, "lat", "lon");
	mk_geo_cell_set(c, lat, lon);
	PG_RETURN_POINTER(c);
}

/* Text form: "(x,y,z)" for a point, "(x,y,z),(x,y,z)" for a box. */
static void
mk_cell_parse_corner(char **s, double v[3], const char *orig)
{
	char	   *p = *s;

	while (isspace((unsigned char) *p))
		p++;
	if (*p++ != '(')
		goto bad;
	for (int i = 0; i < 3; i++)
	{
		v[i] = float8in_internal(p, &p, "mekatek.geo_cell", orig);
		if (isnan(v[i]) || isinf(v[i]))
			goto bad;
		while (isspace((unsigned char) *p))
			p++;
		if (*p++ != (i < 2 ? ',' : ')'))
			goto bad;
	}
	*s = p;
	return;
bad:
	mk_error(ERRCODE_INVALID_TEXT_REPRESENTATION,
			 "Write \"(x,y,z)\" or \"(x1,y1,z1),(x2,y2,z2)\" with finite numbers, or use mekatek.geo_cell(lat, lon).",
			 "invalid input syntax for type mekatek.geo_cell: \"%s\"", orig);
}

PG_FUNCTION_INFO_V1(mk_geo_cell_in);
Datum
mk_geo_cell_in(PG_FUNCTION_ARGS)
{
	char	   *orig = PG_GETARG_CSTRING(0);
	char	   *p = orig;
	double		a[3],
				b[3];
	MkGeoCell  *c = palloc(sizeof(MkGeoCell));

	mk_cell_parse_corner(&p, a, orig);
	while (isspace((unsigned char) *p))
		p++;
	if (*p == ',')
	{
		p++;
		mk_cell_parse_corner(&p, b, orig);
		while (isspace((unsigned char) *p))
			p++;
	}
	else
		memcpy(b, a, sizeof(a));
	if (*p != '\0')
		mk_error(ERRCODE_INVALID_TEXT_REPRESENTATION,
				 "Write \"(x,y,z)\" or \"(x1,y1,z1),(x2,y2,z2)\".",
				 "invalid input syntax for type mekatek.geo_cell: \"%s\"", orig);
	for (int i = 0; i < 3; i++)
	{
		c->lo[i] = Min(a[i], b[i]);
		c->hi[i] = Max(a[i], b[i]);
	}
	PG_RETURN_POINTER(c);
}

PG_FUNCTION_INFO_V1(mk_geo_cell_out);
Datum
mk_geo_cell_out(PG_FUNCTION_ARGS)
{
	MkGeoCell  *c = (MkGeoCell *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "(%s,%s,%s)", float8out_internal(c->lo[0]),
					 float8out_internal(c->lo[1]), float8out_internal(c->lo[2]));
	if (!mk_cell_is_point(c))
		appendStringInfo(&buf, ",(%s,%s,%s)", float8out_internal(c->hi[0]),
						 float8out_internal(c->hi[1]), float8out_internal(c->hi[2]));
	PG_RETURN_CSTRING(buf.data);
}

PG_FUNCTION_INFO_V1(mk_geo_cell_distance);
Datum
mk_geo_cell_distance(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(mk_geo_cell_distance_km((MkGeoCell *) PG_GETARG_POINTER(0),
											 (MkGeoCell *) PG_GETARG_POINTER(1)));
}

PG_FUNCTION_INFO_V1(mk_geo_cell_overlaps);
Datum
mk_geo_cell_overlaps(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(mk_cell_overlaps((MkGeoCell *) PG_GETARG_POINTER(0),
									(MkGeoCell *) PG_GETARG_POINTER(1)));
}

/* ------------------------------------------------------- GiST operator class */

PG_FUNCTION_INFO_V1(mk_geo_gist_consistent);
Datum
mk_geo_gist_consistent(PG_FUNCTION_ARGS)
{
	GISTENTRY  *entry = (GISTENTRY *) PG_GETARG_POINTER(0);
	MkGeoCell  *query = (MkGeoCell *) PG_GETARG_POINTER(1);
	StrategyNumber strategy = (StrategyNumber) PG_GETARG_UINT16(2);
	bool	   *recheck = (bool *) PG_GETARG_POINTER(4);

	*recheck = false;
	if (strategy != RTOverlapStrategyNumber)
		elog(ERROR, "mekatek.geo_cell: unknown strategy number %d", strategy);
	PG_RETURN_BOOL(mk_cell_overlaps((MkGeoCell *) DatumGetPointer(entry->key), query));
}

PG_FUNCTION_INFO_V1(mk_geo_gist_union);
Datum
mk_geo_gist_union(PG_FUNCTION_ARGS)
{
	GistEntryVector *entryvec = (GistEntryVector *) PG_GETARG_POINTER(0);
	int		   *sizep = (int *) PG_GETARG_POINTER(1);
	MkGeoCell  *u = palloc(sizeof(MkGeoCell));

	*u = *(MkGeoCell *) DatumGetPointer(entryvec->vector[0].key);
	for (int i = 1; i < entryvec->n; i++)
		mk_cell_extend(u, (MkGeoCell *) DatumGetPointer(entryvec->vector[i].key));
	*sizep = sizeof(MkGeoCell);
	PG_RETURN_POINTER(u);
}

PG_FUNCTION_INFO_V1(mk_geo_gist_penalty);
Datum
mk_geo_gist_penalty(PG_FUNCTION_ARGS)
{
	GISTENTRY  *origentry = (GISTENTRY *) PG_GETARG_POINTER(0);
	GISTENTRY  *newentry = (GISTENTRY *) PG_GETARG_POINTER(1);
	float	   *result = (float *) PG_GETARG_POINTER(2);
	MkGeoCell  *orig = (MkGeoCell *) DatumGetPointer(origentry->key);
	MkGeoCell	u = *orig;

	mk_cell_extend(&u, (MkGeoCell *) DatumGetPointer(newentry->key));
	*result = (float) (mk_cell_margin(&u) - mk_cell_margin(orig));
	PG_RETURN_POINTER(result);
}

typedef struct MkSplitItem
{
	OffsetNumber off;
	double		center;
} MkSplitItem;

static int
mk_split_cmp(const void *a, const void *b)
{
	double		x = ((const MkSplitItem *) a)->center;
	double		y = ((const MkSplitItem *) b)->center;

	return (x > y) - (x < y);
}

/*
 * Split at the median of the box centres along the axis where the centres
 * spread most: a k-d split, which for points keeps pages compact and the
 * two halves equal in size.
 */
PG_FUNCTION_INFO_V1(mk_geo_gist_picksplit);
Datum
mk_geo_gist_picksplit(PG_FUNCTION_ARGS)
{
	GistEntryVector *entryvec = (GistEntryVector *) PG_GETARG_POINTER(0);
	GIST_SPLITVEC *v = (GIST_SPLITVEC *) PG_GETARG_POINTER(1);
	OffsetNumber maxoff = entryvec->n - 1;
	int			n = maxoff - FirstOffsetNumber + 1;
	MkSplitItem *items = palloc(sizeof(MkSplitItem) * n);
	double		lo[3] = {DBL_MAX, DBL_MAX, DBL_MAX};
	double		hi[3] = {-DBL_MAX, -DBL_MAX, -DBL_MAX};
	int			axis = 0;
	MkGeoCell  *left = palloc(sizeof(MkGeoCell));
	MkGeoCell  *right = palloc(sizeof(MkGeoCell));

	for (OffsetNumber i = FirstOffsetNumber; i <= maxoff; i++)
	{
		MkGeoCell  *c = (MkGeoCell *) DatumGetPointer(entryvec->vector[i].key);

		for (int d = 0; d < 3; d++)
		{
			double		m = (c->lo[d] + c->hi[d]) / 2;

			lo[d] = Min(lo[d], m);
			hi[d] = Max(hi[d], m);
		}
	}
	for (int d = 1; d < 3; d++)
		if (hi[d] - lo[d] > hi[axis] - lo[axis])
			axis = d;
	for (OffsetNumber i = FirstOffsetNumber; i <= maxoff; i++)
	{
		MkGeoCell  *c = (MkGeoCell *) DatumGetPointer(entryvec->vector[i].key);

		items[i - FirstOffsetNumber].off = i;
		items[i - FirstOffsetNumber].center = (c->lo[axis] + c->hi[axis]) / 2;
	}
	qsort(items, n, sizeof(MkSplitItem), mk_split_cmp);

	v->spl_left = palloc(sizeof(OffsetNumber) * n);
	v->spl_right = palloc(sizeof(OffsetNumber) * n);
	v->spl_nleft = v->spl_nright = 0;
	for (int i = 0; i < n; i++)
	{
		MkGeoCell  *c = (MkGeoCell *) DatumGetPointer(entryvec->vector[items[i].off].key);

		if (i < n / 2)
		{
			if (v->spl_nleft == 0)
				*left = *c;
			else
				mk_cell_extend(left, c);
			v->spl_left[v->spl_nleft++] = items[i].off;
		}
		else
		{
			if (v->spl_nright == 0)
				*right = *c;
			else
				mk_cell_extend(right, c);
			v->spl_right[v->spl_nright++] = items[i].off;
		}
	}
	v->spl_ldatum = PointerGetDatum(left);
	v->spl_rdatum = PointerGetDatum(right);
	PG_RETURN_POINTER(v);
}

PG_FUNCTION_INFO_V1(mk_geo_gist_same);
Datum
mk_geo_gist_same(PG_FUNCTION_ARGS)
{
	MkGeoCell  *a = (MkGeoCell *) PG_GETARG_POINTER(0);
	MkGeoCell  *b = (MkGeoCell *) PG_GETARG_POINTER(1);
	bool	   *result = (bool *) PG_GETARG_POINTER(2);

	*result = memcmp(a, b, sizeof(MkGeoCell)) == 0;
	PG_RETURN_POINTER(result);
}

PG_FUNCTION_INFO_V1(mk_geo_gist_distance);
Datum
mk_geo_gist_distance(PG_FUNCTION_ARGS)
{
	GISTENTRY  *entry = (GISTENTRY *) PG_GETARG_POINTER(0);
	MkGeoCell  *query = (MkGeoCell *) PG_GETARG_POINTER(1);
	bool	   *recheck = (bool *) PG_GETARG_POINTER(4);

	*recheck = false;
	PG_RETURN_FLOAT8(mk_geo_cell_distance_km((MkGeoCell *) DatumGetPointer(entry->key), query));
}
