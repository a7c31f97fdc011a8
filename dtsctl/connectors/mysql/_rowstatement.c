/* Many source statements' row events joined into one statement for a `BINLOG` statement.
 *
 * A MySQL/MariaDB server that applies row events opens and locks a statement's tables at its
 * first rows event and closes them after the rows event flagged STMT_END. A batch of source
 * transactions of small statements therefore costs the destination a table open and close per
 * source statement: half of its CPU for transactions of ten single-row statements
 * (docs/benchmarks.md). `one_statement` joins a batch's events into one statement: its distinct
 * table maps first (the server opens the tables a statement mapped before its first rows event,
 * and silently skips rows of a table mapped later), then every rows event in order, STMT_END
 * cleared on each but the last, which gets it; the checksums of the events changed are
 * recomputed. The rows themselves are applied one event after the other, as before; only the
 * statement boundaries the server opens and closes tables at are gone, which a destination
 * transaction holding the whole batch makes safe (boundaries of source transactions are the
 * checkpoint's, not the server's).
 *
 * A table id mapped again to a different table (the source reused the id), or more tables than
 * MAX_MAPS, ends the statement at the last rows event before that map, and starts a new one.
 * CPython C API only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { HEADER = 19, TABLE_MAP_EVENT = 19, FLAGS_AT = HEADER + 6, STMT_END = 0x0001, MAX_MAPS = 64 };

static uint32_t crc_table[256];

static void crc_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

static uint32_t crc32_of(const unsigned char *p, Py_ssize_t n) {
    uint32_t c = 0xFFFFFFFFu;
    while (n--) c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void set_stmt_end(unsigned char *event, Py_ssize_t size, int checksum, int stmt_end) {
    unsigned flags = event[FLAGS_AT] | event[FLAGS_AT + 1] << 8;
    unsigned wanted = stmt_end ? flags | STMT_END : flags & ~STMT_END;
    if (wanted == flags) return;
    event[FLAGS_AT] = wanted & 0xFF;
    event[FLAGS_AT + 1] = wanted >> 8;
    if (checksum) {
        uint32_t crc = crc32_of(event, size - 4);
        for (int i = 0; i < 4; i++) event[size - 4 + i] = (crc >> (8 * i)) & 0xFF;
    }
}

static uint64_t table_id(const unsigned char *event) {
    uint64_t id = 0;
    for (int i = 5; i >= 0; i--) id = id << 8 | event[HEADER + i];
    return id;
}

typedef struct { uint64_t id; const unsigned char *body; Py_ssize_t size; } Map;

/* How `event`, a table map, stands with the maps of the statement: 1 already there as it is,
 * 0 new, -1 its id names another table there (or the statement has all the tables it can). */
static int map_state(const Map *maps, int mapped, const unsigned char *event, Py_ssize_t size, int checksum) {
    uint64_t id = table_id(event);
    Py_ssize_t body = size - HEADER - checksum;  /* what a map says, without its header and CRC */
    for (int m = 0; m < mapped; m++)
        if (maps[m].id == id)
            return maps[m].size == body && memcmp(maps[m].body, event + HEADER, body) == 0 ? 1 : -1;
    return mapped == MAX_MAPS ? -1 : 0;
}

/* One statement of events[start:end]: its distinct table maps first (the server opens a statement's
 * tables at its first rows event, and skips the rows of a table mapped after that), then its rows
 * events in order, STMT_END on the last alone. Returns the bytes written, -1 if there is no rows event. */
static Py_ssize_t write_statement(PyObject **items, Py_ssize_t start, Py_ssize_t end, unsigned char *out,
                                  int checksum) {
    Map maps[MAX_MAPS];
    int mapped = 0;
    Py_ssize_t at = 0, last = -1, last_size = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        const unsigned char *event = (const unsigned char *)PyBytes_AS_STRING(items[i]);
        Py_ssize_t size = PyBytes_GET_SIZE(items[i]);
        if (event[4] != TABLE_MAP_EVENT || map_state(maps, mapped, event, size, checksum) == 1) continue;
        maps[mapped++] = (Map){table_id(event), event + HEADER, size - HEADER - checksum};
        memcpy(out + at, event, size);
        at += size;
    }
    for (Py_ssize_t i = start; i < end; i++) {
        const unsigned char *event = (const unsigned char *)PyBytes_AS_STRING(items[i]);
        Py_ssize_t size = PyBytes_GET_SIZE(items[i]);
        if (event[4] == TABLE_MAP_EVENT) continue;
        memcpy(out + at, event, size);
        set_stmt_end(out + at, size, checksum, 0);
        last = at;
        last_size = size;
        at += size;
    }
    if (last < 0) return -1;
    set_stmt_end(out + last, last_size, checksum, 1);
    return at;
}

static PyObject *one_statement(PyObject *self, PyObject *args) {
    PyObject *events;
    int checksum;
    if (!PyArg_ParseTuple(args, "Op", &events, &checksum)) return NULL;
    checksum = checksum ? 4 : 0;
    PyObject *seq = PySequence_Fast(events, "events must be a sequence of bytes");
    if (seq == NULL) return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq), total = 0;
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < count; i++) {
        if (!PyBytes_Check(items[i]) || PyBytes_GET_SIZE(items[i]) < FLAGS_AT + 2 + checksum) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "an event is not bytes of a table map or rows event");
            return NULL;
        }
        total += PyBytes_GET_SIZE(items[i]);
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    Py_ssize_t at = 0, start = 0, after_rows = -1;  /* after_rows: just past the statement's last rows event */
    Map maps[MAX_MAPS];
    int mapped = 0;
    for (Py_ssize_t i = 0; i <= count; i++) {
        const unsigned char *event = i < count ? (const unsigned char *)PyBytes_AS_STRING(items[i]) : NULL;
        Py_ssize_t size = i < count ? PyBytes_GET_SIZE(items[i]) : 0;
        int state = 0;
        if (event != NULL && event[4] == TABLE_MAP_EVENT) state = map_state(maps, mapped, event, size, checksum);
        if (event == NULL || state < 0) {
            /* The statement ends at its last rows event; the maps after it open the next one. */
            Py_ssize_t end = event == NULL || after_rows < 0 ? i : after_rows;
            Py_ssize_t written = write_statement(items, start, end, out + at, checksum);
            if (written < 0) {
                Py_DECREF(seq);
                Py_DECREF(result);
                PyErr_SetString(PyExc_ValueError, "table maps that no rows event uses");
                return NULL;
            }
            at += written;
            if (event == NULL) break;
            start = end;
            after_rows = -1;
            mapped = 0;
            for (Py_ssize_t j = start; j <= i; j++) {  /* the maps the next statement starts with */
                const unsigned char *map = (const unsigned char *)PyBytes_AS_STRING(items[j]);
                Py_ssize_t map_size = PyBytes_GET_SIZE(items[j]);
                if (map_state(maps, mapped, map, map_size, checksum) == 0)
                    maps[mapped++] = (Map){table_id(map), map + HEADER, map_size - HEADER - checksum};
            }
            continue;
        }
        if (event[4] == TABLE_MAP_EVENT) {
            if (state == 0) maps[mapped++] = (Map){table_id(event), event + HEADER, size - HEADER - checksum};
        } else {
            after_rows = i + 1;
        }
    }
    Py_DECREF(seq);
    if (at != total && _PyBytes_Resize(&result, at) < 0) return NULL;
    return result;
}

static PyMethodDef methods[] = {
    {"one_statement", one_statement, METH_VARARGS,
     "one_statement(events, checksum) -> bytes: table map and rows events (each ending in a CRC32 when "
     "checksum is true) joined as one statement (see the module's source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_rowstatement", "Source statements' row events joined into one statement.", -1, methods,
};

PyMODINIT_FUNC PyInit__rowstatement(void) {
    crc_init();
    return PyModule_Create(&module);
}
