/* K&R definitions: the header's `()` declares no prototype. `other` is defined without its
   header in view, with another signature. The module must still load, without them. */
int old_style(a, b) int a; int b; { return a + b; }
int no_args() { return 7; }
int other(int x, int y) { return x + y; }
int ok(void) { return 1; }
