/* The binlog stream's packets framed and sorted in one call per socket read.
 *
 * `scan` walks the whole packets at the start of a buffer the stream connection read ahead
 * and handles the events every transaction carries, which the reader would otherwise take one
 * Python call chain per packet for (dtsctl.connectors.mysql.hot_events):
 *
 *   MariaDB GTID            -> (GTID, log_pos, timestamp, server_id, seq_no, domain_id, flags)
 *   XID                     -> (XID, log_pos, timestamp)
 *   rows event (v1, v2)     -> (type, log_pos, timestamp, start, end, table_id): the packet's
 *                              payload is buffer[start:end], decoded by the caller
 *   QUERY of BEGIN          -> nothing (the reader uses no event for it)
 *   TABLE_MAP of a table id the library mapped, equal to the map kept for it but for its
 *                              header, or of a database not selected -> nothing (what the
 *                              reader and the library do with it)
 *   rows event of a table id the library did not map -> nothing (the library drops it: its
 *                              table map was of a database not selected)
 *
 * It stops, leaving the packet in the buffer for the packet-at-a-time path, at a packet that is
 * incomplete, of 16 MiB or more (continued in the next packet), out of sequence, not an OK
 * packet (an error, the end of the stream), or any other event. The caller checks beforehand that
 * the server declares the post-header lengths read here. CPython C API only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum {
    QUERY_EVENT = 2, XID_EVENT = 16, TABLE_MAP_EVENT = 19,
    WRITE_ROWS_V1 = 23, UPDATE_ROWS_V1 = 24, DELETE_ROWS_V1 = 25,
    WRITE_ROWS_V2 = 30, UPDATE_ROWS_V2 = 31, DELETE_ROWS_V2 = 32,
    MARIADB_GTID_EVENT = 162,
};

enum { FRAME = 4, BODY = 1 + 19, MAX_PACKET = 0xFFFFFF, QUERY_POST_HEADER = 13 };

static uint32_t u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t u48(const unsigned char *p) {
    return (uint64_t)u32(p) | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40;
}

static uint64_t u64(const unsigned char *p) {
    return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32;
}

/* 1, 0 or -1 (error set): the table id of a table map or rows event is in the library's map */
static int mapped_id(const unsigned char *payload, PyObject *mapped, PyObject **id) {
    *id = PyLong_FromUnsignedLongLong(u48(payload + BODY));
    if (*id == NULL) return -1;
    int found = PyDict_Contains(mapped, *id);
    if (found < 0) Py_CLEAR(*id);
    return found;
}

/* 1 when a table map's database is not among `schemas` (a frozenset of bytes; None: all are
   selected), 0 when it is, -1 on error */
static int unselected(const unsigned char *payload, Py_ssize_t body_end, PyObject *schemas) {
    Py_ssize_t at = BODY + 8;
    if (schemas == Py_None || body_end < at + 1 || body_end < at + 1 + payload[at]) return 0;
    PyObject *name = PyBytes_FromStringAndSize((const char *)payload + at + 1, payload[at]);
    if (name == NULL) return -1;
    int found = PySet_Contains(schemas, name);
    Py_DECREF(name);
    return found < 0 ? -1 : !found;
}

/* 1: a table map the reader and the library drop; 0: not; -1: error set */
static int dropped_map(const unsigned char *payload, Py_ssize_t body_end, int checksum, PyObject *kept_maps,
                       PyObject *mapped, PyObject *schemas) {
    if (body_end < BODY + 6) return 0;
    PyObject *id;
    int in_library = mapped_id(payload, mapped, &id);
    if (in_library < 0) return -1;
    if (!in_library) {
        Py_DECREF(id);
        return unselected(payload, body_end, schemas);
    }
    PyObject *kept = PyDict_GetItemWithError(kept_maps, id);
    Py_DECREF(id);
    if (kept == NULL && PyErr_Occurred()) return -1;
    if (kept == NULL || !PyBytes_Check(kept)) return 0;
    /* the kept map is the event as read (the payload after its OK byte) */
    Py_ssize_t kept_body = PyBytes_GET_SIZE(kept) - (BODY - 1) - checksum;
    Py_ssize_t body = body_end - BODY;
    return kept_body == body && memcmp(PyBytes_AS_STRING(kept) + BODY - 1, payload + BODY, (size_t)body) == 0;
}

static int is_begin(const unsigned char *payload, Py_ssize_t body_end) {
    if (body_end < BODY + QUERY_POST_HEADER) return 0;
    Py_ssize_t schema_length = payload[BODY + 8];
    Py_ssize_t status_length = payload[BODY + 11] | payload[BODY + 12] << 8;
    Py_ssize_t statement = BODY + QUERY_POST_HEADER + status_length + schema_length + 1;
    return body_end - statement == 5 && memcmp(payload + statement, "BEGIN", 5) == 0;
}

static int append(PyObject *items, PyObject *item) {
    if (item == NULL) return -1;
    int failed = PyList_Append(items, item);
    Py_DECREF(item);
    return failed;
}

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer view;
    int next_seq, checksum;
    PyObject *kept_maps, *mapped, *schemas;
    if (!PyArg_ParseTuple(args, "y*iiO!O!O", &view, &next_seq, &checksum, &PyDict_Type, &kept_maps,
                          &PyDict_Type, &mapped, &schemas))
        return NULL;
    if (schemas != Py_None && !PyFrozenSet_Check(schemas)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError, "schemas: a frozenset of bytes, or None");
        return NULL;
    }
    const unsigned char *data = view.buf;
    Py_ssize_t size = view.len, at = 0;
    unsigned long long log_pos = 0;
    PyObject *items = PyList_New(0);
    if (items == NULL) goto error;
    while (size - at >= FRAME) {
        const unsigned char *frame = data + at;
        Py_ssize_t length = frame[0] | frame[1] << 8 | frame[2] << 16;
        if (length >= MAX_PACKET || frame[3] != next_seq || size - at - FRAME < length) break;
        const unsigned char *payload = frame + FRAME;
        if (length < BODY + checksum || payload[0] != 0) break;
        Py_ssize_t body_end = length - checksum;
        uint32_t timestamp = u32(payload + 1), server_id = u32(payload + 6), position = u32(payload + 14);
        int kind = payload[5];
        PyObject *item = NULL;
        if (kind == MARIADB_GTID_EVENT) {
            if (body_end < BODY + 13) break;
            item = Py_BuildValue("(iIIIKIB)", kind, position, timestamp, server_id, u64(payload + BODY),
                                 u32(payload + BODY + 8), payload[BODY + 12]);
        } else if (kind == XID_EVENT) {
            item = Py_BuildValue("(iII)", kind, position, timestamp);
        } else if ((kind >= WRITE_ROWS_V1 && kind <= DELETE_ROWS_V1) || (kind >= WRITE_ROWS_V2 && kind <= DELETE_ROWS_V2)) {
            if (body_end < BODY + 6) break;
            PyObject *id;
            int in_library = mapped_id(payload, mapped, &id);
            if (in_library < 0) goto error;
            Py_ssize_t start = at + FRAME;
            if (in_library) item = Py_BuildValue("(iIInnN)", kind, position, timestamp, start, start + length, id);
            else Py_DECREF(id);
        } else if (kind == QUERY_EVENT) {
            if (!is_begin(payload, body_end)) break;
        } else if (kind == TABLE_MAP_EVENT) {
            int dropped = dropped_map(payload, body_end, checksum, kept_maps, mapped, schemas);
            if (dropped < 0) goto error;
            if (!dropped) break;
        } else {
            break;
        }
        if (item != NULL && append(items, item) < 0) goto error;
        if (item == NULL && PyErr_Occurred()) goto error;
        if (position) log_pos = position;
        next_seq = (next_seq + 1) % 256;
        at += FRAME + length;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(NniK)", items, at, next_seq, log_pos);
error:
    Py_XDECREF(items);
    PyBuffer_Release(&view);
    return NULL;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(buffer, next_seq, checksum, kept_maps, mapped, schemas) -> (items, consumed, next_seq, log_pos): the "
     "hot events of the whole packets at the start of buffer (see the module's source), the bytes "
     "they took, the sequence number expected next, and the last nonzero log position among them (0: none)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_binlogscan", "Binlog stream packets framed and sorted in compiled code.", -1, methods,
};

PyMODINIT_FUNC PyInit__binlogscan(void) { return PyModule_Create(&module); }
