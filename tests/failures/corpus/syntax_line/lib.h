int ok(void);
int bad(int x y);
