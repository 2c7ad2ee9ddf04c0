int here(void);
int not_here(void);
