#include "geom.h"

#include <math.h>
#include <stdlib.h>

meters geom_dist(meters x0, meters y0, meters x1, meters y1) {
    return sqrt((x1 - x0) * (x1 - x0) + (y1 - y0) * (y1 - y0));
}

int geom_manhattan(int x0, int y0, int x1, int y1) {
    return abs(x1 - x0) + abs(y1 - y0);
}

double geom_triangle_area(double ax, double ay, double bx, double by, double cx, double cy) {
    return fabs((bx - ax) * (cy - ay) - (cx - ax) * (by - ay)) / 2.0;
}
