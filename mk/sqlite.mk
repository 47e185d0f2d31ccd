# The SQLite loadable extension: ./predict_sqlite.so (.load ./predict_sqlite).
#
# src/sqlite/ is compiled twice: here as a loadable extension
# (PREDICT_SQLITE_LOADABLE: calls through the API table SQLite passes to the
# entry point), and by the generic rule into build/sqlite/, linked into the
# gateway together with libsqlite3 (plain calls, SQLITE_CORE).


all: predict_sqlite.so

build/sqlite-loadable/%.o: src/sqlite/%.c $(CORE_HDRS) $(SQLITE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PREDICT_CFLAGS) -DPREDICT_SQLITE_LOADABLE -c -o $@ $<

build/sqlite/%.o: src/sqlite/%.c $(CORE_HDRS) $(SQLITE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PREDICT_CFLAGS) -c -o $@ $<

predict_sqlite.so: $(SQLITE_LOADABLE_OBJS) $(CORE_LIB)
	$(CC) $(PREDICT_CFLAGS) -shared -o $@ $^ $(PREDICT_LDLIBS)

EXTRA_CLEAN += predict_sqlite.so
