int f(void);
#error "lib.h needs a configured build"
