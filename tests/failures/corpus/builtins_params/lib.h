int count(const char *str, int len, int isinstance, int type);
int object(int range, int super);
