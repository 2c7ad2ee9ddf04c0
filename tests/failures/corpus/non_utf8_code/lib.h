int h(void);
ÿþ int x;
