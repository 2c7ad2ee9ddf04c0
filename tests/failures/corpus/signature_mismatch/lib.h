int old_style();
int no_args();
double other(int x);
int ok(void);
