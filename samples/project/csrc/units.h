/* Included by geom.h: a change here makes the bindings stale too. */
#ifndef UNITS_H
#define UNITS_H

#define GEOM_UNITS_PER_METER 1000

typedef double meters;

#endif
