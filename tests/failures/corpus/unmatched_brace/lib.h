int f(void);
}
