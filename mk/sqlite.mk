# The SQLite loadable extension: ./predict_sqlite.so (.load ./predict_sqlite).

all: predict_sqlite.so

predict_sqlite.so: build/sqlite_predict.o $(CORE_OBJS)
	$(CC) $(PREDICT_CFLAGS) -shared -o $@ $^ $(PREDICT_LDLIBS)

EXTRA_CLEAN += predict_sqlite.so
