int h(void); /* café ÿ */
