/*
 * geo.h: the sphere geometry shared by haversine_km, the geo_cell GiST
 * operator class and nearest_agents.
 */
#ifndef MK_GEO_H
#define MK_GEO_H

/* The mean Earth radius the issue (and the paper) fix for distances. */
#define MK_GEO_EARTH_KM 6371.0

/* A box in 3-D around unit vectors; a point has lo == hi. 48 bytes. */
typedef struct MkGeoCell
{
	double		lo[3];
	double		hi[3];
} MkGeoCell;

/* Central angle in radians between two points given in degrees. */
extern double mk_geo_angle(double lat1, double lon1, double lat2, double lon2);
/* ERROR 22003 naming the argument unless lat in [-90,90], lon in [-180,180]. */
extern void mk_geo_check_latlon(double lat, double lon, const char *latname,
								const char *lonname);
extern void mk_geo_cell_set(MkGeoCell *c, double lat, double lon);
extern double mk_geo_cell_distance_km(const MkGeoCell *a, const MkGeoCell *b);

#endif							/* MK_GEO_H */
