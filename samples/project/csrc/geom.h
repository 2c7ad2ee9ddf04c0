/* A tiny geometry library: the API embind-py binds. */
#ifndef GEOM_H
#define GEOM_H

#include "units.h"

/* Euclidean distance between (x0, y0) and (x1, y1). */
meters geom_dist(meters x0, meters y0, meters x1, meters y1);

/* Manhattan distance on an integer grid. */
int geom_manhattan(int x0, int y0, int x1, int y1);

/* Area of the triangle with the given corners (always >= 0). */
double geom_triangle_area(double ax, double ay, double bx, double by, double cx, double cy);

#endif
