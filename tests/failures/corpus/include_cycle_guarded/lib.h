#ifndef LIB_H
#define LIB_H
#include "other.h"
int g(void);
#endif
