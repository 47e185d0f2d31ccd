# The SQLite loadable extension: ./predict_sqlite.so (.load ./predict_sqlite).
#
# src/sqlite_predict.c is compiled twice: here as a loadable extension
# (PREDICT_SQLITE_LOADABLE: calls through the API table SQLite passes to the
# entry point), and by the generic rule into build/sqlite_predict.o, linked
# into the gateway together with libsqlite3 (plain calls, SQLITE_CORE).

all: predict_sqlite.so

build/sqlite_predict_loadable.o: src/sqlite_predict.c src/*.h | build
	$(CC) $(PREDICT_CFLAGS) -DPREDICT_SQLITE_LOADABLE -c -o $@ $<

predict_sqlite.so: build/sqlite_predict_loadable.o $(CORE_OBJS)
	$(CC) $(PREDICT_CFLAGS) -shared -o $@ $^ $(PREDICT_LDLIBS)

EXTRA_CLEAN += predict_sqlite.so
