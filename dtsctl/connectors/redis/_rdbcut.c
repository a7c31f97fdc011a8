/* The snapshot's per-key work in one compiled step: cut RDB entries and format their RESTOREs.
 *
 * `cut` walks the RDB entries of the hot types (strings, lists, sets, sorted sets, hashes in
 * every encoding Redis 7 writes, with their expire and LRU/LFU opcodes) from a position, and
 * for each selected key appends `RESTORE key ttl payload [ABSTTL] [REPLACE]` as RESP, the
 * payload being the type byte and the value's bytes as they are in the RDB, the RDB version and
 * the CRC-64 (what DUMP returns). Values are never decoded. It stops at anything else (opcodes,
 * streams, modules, LZF-compressed keys, malformed lengths), which the Python walk (rdb.py)
 * handles or reports; and when the buffer ends inside an entry. Every read is bounds-checked:
 * the bytes come from a remote server.
 *
 * `count_commands` counts the commands of a stored payload (RESP arrays) and the writes per
 * database, following its SELECTs: what the applier's `Batch` needs, without decoding them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* What stopped `cut` (mirrored in snapshot.py). */
enum { NEED_MORE = 0, FULL = 1, OTHER = 2 };
enum { OK = 0, INCOMPLETE = 1, UNHANDLED = 2 };

/* -- CRC-64/Redis (Jones polynomial, reflected, no final xor), table-driven -------------------- */
static uint64_t crc_table[256];

static void crc64_init(void) {
    const uint64_t poly = 0x95ac9329ac4bc9b5ULL; /* 0xad93d23594c935a9 reflected */
    for (int i = 0; i < 256; i++) {
        uint64_t crc = (uint64_t)i;
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 1) ? (crc >> 1) ^ poly : crc >> 1;
        crc_table[i] = crc;
    }
}

static uint64_t crc64(uint64_t crc, const unsigned char *data, size_t size) {
    for (size_t i = 0; i < size; i++)
        crc = crc_table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
    return crc;
}

/* -- RDB lengths and strings ------------------------------------------------------------------ */
typedef struct {
    const unsigned char *buf;
    size_t len;
} Input;

/* A length or a string encoding at *pos: *value, *encoded; OK, INCOMPLETE or UNHANDLED. */
static int length_or_encoding(const Input *in, size_t *pos, uint64_t *value, int *encoded) {
    size_t p = *pos;
    if (p >= in->len) return INCOMPLETE;
    unsigned char first = in->buf[p];
    *encoded = 0;
    switch (first >> 6) {
    case 0:
        *value = first & 0x3f;
        *pos = p + 1;
        return OK;
    case 1:
        if (in->len - p < 2) return INCOMPLETE;
        *value = ((uint64_t)(first & 0x3f) << 8) | in->buf[p + 1];
        *pos = p + 2;
        return OK;
    case 3:
        *value = first & 0x3f;
        *encoded = 1;
        *pos = p + 1;
        return OK;
    }
    int size = first == 0x80 ? 4 : first == 0x81 ? 8 : 0;
    if (size == 0) return UNHANDLED;
    if (in->len - p < (size_t)size + 1) return INCOMPLETE;
    uint64_t v = 0;
    for (int i = 1; i <= size; i++) v = (v << 8) | in->buf[p + i];
    *value = v;
    *pos = p + 1 + size;
    return OK;
}

static int length(const Input *in, size_t *pos, uint64_t *value) {
    int encoded, rc = length_or_encoding(in, pos, value, &encoded);
    return rc != OK ? rc : encoded ? UNHANDLED : OK;
}

/* Move *pos by `size` bytes that must all be in the buffer. */
static int skip(const Input *in, size_t *pos, uint64_t size) {
    if (size > in->len - *pos) return INCOMPLETE;
    *pos += (size_t)size;
    return OK;
}

/* Past a string: plain, an integer of 1, 2 or 4 bytes, or LZF-compressed. */
static int string_end(const Input *in, size_t *pos) {
    uint64_t value, compressed, original;
    int encoded, rc = length_or_encoding(in, pos, &value, &encoded);
    if (rc != OK) return rc;
    if (!encoded) return skip(in, pos, value);
    if (value < 3) return skip(in, pos, (uint64_t)1 << value);
    if (value != 3) return UNHANDLED;
    if ((rc = length(in, pos, &compressed)) != OK || (rc = length(in, pos, &original)) != OK) return rc;
    return skip(in, pos, compressed);
}

/* A key: its bytes (plain), or the decimal text of an integer key written to `digits`. LZF
 * keys are left to Python. */
static int key_string(const Input *in, size_t *pos, const unsigned char **key, size_t *key_len, char *digits) {
    uint64_t value;
    int encoded, rc = length_or_encoding(in, pos, &value, &encoded);
    if (rc != OK) return rc;
    if (!encoded) {
        *key = in->buf + *pos;
        *key_len = (size_t)value;
        return skip(in, pos, value);
    }
    if (value >= 3) return UNHANDLED;
    size_t size = (size_t)1 << value, p = *pos;
    if ((rc = skip(in, pos, size)) != OK) return rc;
    const unsigned char *b = in->buf + p;
    long long number = size == 1 ? (int8_t)b[0]
                       : size == 2 ? (int16_t)(b[0] | (b[1] << 8))
                                   : (int32_t)((uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
                                               ((uint32_t)b[3] << 24));
    *key_len = (size_t)sprintf(digits, "%lld", number);
    *key = (const unsigned char *)digits;
    return OK;
}

/* Past the value of an entry of type `kind` (its encoding starts at *pos). */
static int value_end(const Input *in, int kind, size_t *pos) {
    uint64_t count, i;
    int rc;
    switch (kind) {
    case 0: case 9: case 10: case 11: case 12: case 13: case 16: case 17: case 20: /* one string */
        return string_end(in, pos);
    case 1: case 2: case 14: case 4: /* list, set, old quicklist: strings; hash: field, value */
        if ((rc = length(in, pos, &count)) != OK) return rc;
        if (kind == 4) {
            if (count > UINT64_MAX / 2) return UNHANDLED;
            count *= 2;
        }
        for (i = 0; i < count; i++)
            if ((rc = string_end(in, pos)) != OK) return rc;
        return OK;
    case 3: /* sorted set, doubles as text: a length byte, 253 to 255 being nan and infinities */
        if ((rc = length(in, pos, &count)) != OK) return rc;
        for (i = 0; i < count; i++) {
            if ((rc = string_end(in, pos)) != OK) return rc;
            if (*pos >= in->len) return INCOMPLETE;
            unsigned char size = in->buf[*pos];
            if ((rc = skip(in, pos, 1 + (size < 253 ? size : 0))) != OK) return rc;
        }
        return OK;
    case 5: /* sorted set, binary doubles */
        if ((rc = length(in, pos, &count)) != OK) return rc;
        for (i = 0; i < count; i++)
            if ((rc = string_end(in, pos)) != OK || (rc = skip(in, pos, 8)) != OK) return rc;
        return OK;
    case 18: /* quicklist 2: each node's container (plain or packed), then the node */
        if ((rc = length(in, pos, &count)) != OK) return rc;
        for (i = 0; i < count; i++) {
            uint64_t container;
            if ((rc = length(in, pos, &container)) != OK || (rc = string_end(in, pos)) != OK) return rc;
        }
        return OK;
    }
    return UNHANDLED; /* streams, modules, unknown types */
}

/* -- output ----------------------------------------------------------------------------------- */
typedef struct {
    char *data;
    size_t size, capacity;
} Output;

static int reserve(Output *out, size_t more) {
    if (out->capacity - out->size >= more) return 0;
    size_t capacity = out->capacity ? out->capacity : 1 << 16;
    while (capacity - out->size < more) {
        if (capacity > SIZE_MAX / 2) return -1;
        capacity *= 2;
    }
    char *data = realloc(out->data, capacity);
    if (data == NULL) return -1;
    out->data = data;
    out->capacity = capacity;
    return 0;
}

static void put(Output *out, const void *data, size_t size) {
    memcpy(out->data + out->size, data, size);
    out->size += size;
}

static void put_bulk(Output *out, const void *data, size_t size) {
    out->size += (size_t)sprintf(out->data + out->size, "$%zu\r\n", size);
    put(out, data, size);
    put(out, "\r\n", 2);
}

typedef struct {
    int version, replace, emit;
    long long extend_ttl_ms;
    const char *exclude;
    Py_ssize_t exclude_len;
    Py_buffer *prefixes;
    Py_ssize_t prefix_count;
    size_t max_commands, max_bytes;
} Options;

static int wanted(const Options *o, const unsigned char *key, size_t len) {
    if (o->exclude_len && len >= (size_t)o->exclude_len && memcmp(key, o->exclude, o->exclude_len) == 0) return 0;
    if (o->prefixes == NULL) return 1;
    for (Py_ssize_t i = 0; i < o->prefix_count; i++)
        if (len >= (size_t)o->prefixes[i].len && memcmp(key, o->prefixes[i].buf, o->prefixes[i].len) == 0) return 1;
    return 0;
}

/* Append the RESTORE of one entry; -1 when out of memory. */
static int restore(Output *out, const Options *o, const unsigned char *key, size_t key_len, int kind,
                   const unsigned char *value, size_t value_len, long long expire_ms) {
    if (expire_ms && o->extend_ttl_ms) expire_ms += o->extend_ttl_ms;
    if (reserve(out, key_len + value_len + 160) < 0) return -1;
    unsigned char tail[10] = {(unsigned char)(o->version & 0xff), (unsigned char)(o->version >> 8)};
    unsigned char type = (unsigned char)kind;
    uint64_t crc = crc64(crc64(0, &type, 1), value, value_len);
    crc = crc64(crc, tail, 2);
    for (int i = 0; i < 8; i++) tail[2 + i] = (unsigned char)(crc >> (8 * i));
    char ttl[24];
    int ttl_len = expire_ms ? sprintf(ttl, "%lld", expire_ms) : 1;
    if (!expire_ms) ttl[0] = '0';
    out->size += (size_t)sprintf(out->data + out->size, "*%d\r\n$7\r\nRESTORE\r\n", 4 + (expire_ms != 0) + o->replace);
    put_bulk(out, key, key_len);
    put_bulk(out, ttl, (size_t)ttl_len);
    out->size += (size_t)sprintf(out->data + out->size, "$%zu\r\n", value_len + 11);
    put(out, &type, 1);
    put(out, value, value_len);
    put(out, tail, 10);
    put(out, "\r\n", 2);
    if (expire_ms) put(out, "$6\r\nABSTTL\r\n", 12);
    if (o->replace) put(out, "$7\r\nREPLACE\r\n", 13);
    return 0;
}

/* Cut entries from *pos; returns the stop reason, or -1 when out of memory. */
static int cut_entries(const Input *in, size_t *pos, const Options *o, Output *out, size_t *commands) {
    while (1) {
        if (*commands >= o->max_commands || out->size >= o->max_bytes) return FULL;
        size_t p = *pos;
        long long expire_ms = 0;
        int opcode, rc = OK;
        while (1) { /* expire and LRU/LFU opcodes come before their key */
            if (p >= in->len) return NEED_MORE;
            opcode = in->buf[p++];
            if (opcode == 0xfc) { /* expire, milliseconds */
                if (in->len - p < 8) return NEED_MORE;
                uint64_t v = 0;
                for (int i = 7; i >= 0; i--) v = (v << 8) | in->buf[p + i];
                expire_ms = (long long)v;
                p += 8;
            } else if (opcode == 0xfd) { /* expire, seconds */
                if (in->len - p < 4) return NEED_MORE;
                uint32_t v = (uint32_t)in->buf[p] | ((uint32_t)in->buf[p + 1] << 8) |
                             ((uint32_t)in->buf[p + 2] << 16) | ((uint32_t)in->buf[p + 3] << 24);
                expire_ms = (long long)(int32_t)v * 1000;
                p += 4;
            } else if (opcode == 0xf9) { /* LFU frequency */
                if ((rc = skip(in, &p, 1)) != OK) break;
            } else if (opcode == 0xf8) { /* LRU idle time */
                uint64_t idle;
                if ((rc = length(in, &p, &idle)) != OK) break;
            } else {
                break;
            }
        }
        if (rc == OK && opcode >= 0xf5) rc = UNHANDLED; /* an opcode of its own */
        const unsigned char *key = NULL;
        size_t key_len = 0, value_start = 0;
        char digits[24];
        if (rc == OK) rc = key_string(in, &p, &key, &key_len, digits);
        if (rc == OK) {
            value_start = p;
            rc = value_end(in, opcode, &p);
        }
        if (rc == INCOMPLETE) return NEED_MORE;
        if (rc == UNHANDLED) return OTHER;
        if (o->emit && wanted(o, key, key_len)) {
            if (restore(out, o, key, key_len, opcode, in->buf + value_start, p - value_start, expire_ms) < 0)
                return -1;
            (*commands)++;
        }
        *pos = p;
    }
}

static void release_prefixes(Py_buffer *prefixes, Py_ssize_t count) {
    for (Py_ssize_t i = 0; i < count; i++) PyBuffer_Release(&prefixes[i]);
    PyMem_Free(prefixes);
}

PyDoc_STRVAR(cut_doc,
"cut(buffer, pos, version, replace, emit, exclude, prefixes, extend_ttl_ms, max_commands, max_bytes)\n"
"-> (restores: bytes, commands: int, pos: int, stop: int)\n\n"
"The RESTOREs (RESP) of the selected entries cut from `buffer` at `pos`: keys not starting with\n"
"`exclude` (unless empty) and, unless `prefixes` is None, starting with one of them; none when `emit` is false.\n"
"Stops when `max_commands` or `max_bytes` is reached (FULL), when the buffer ends inside an\n"
"entry (NEED_MORE), or at what it leaves to Python (OTHER); `pos` is where it stopped.");

static PyObject *cut(PyObject *self, PyObject *args) {
    Py_buffer buffer, exclude;
    Py_ssize_t start, max_commands, max_bytes;
    PyObject *prefixes;
    Options o = {0};
    if (!PyArg_ParseTuple(args, "y*niipy*OLnn", &buffer, &start, &o.version, &o.replace, &o.emit, &exclude,
                          &prefixes, &o.extend_ttl_ms, &max_commands, &max_bytes))
        return NULL;
    PyObject *result = NULL;
    Output out = {0};
    if (start < 0 || start > buffer.len || o.version < 0 || o.version > 0xffff) {
        PyErr_SetString(PyExc_ValueError, "cut: position or RDB version out of range");
        goto done_buffers;
    }
    o.exclude = exclude.buf;
    o.exclude_len = exclude.len;
    o.max_commands = max_commands > 0 ? (size_t)max_commands : 0;
    o.max_bytes = max_bytes > 0 ? (size_t)max_bytes : 0;
    if (prefixes != Py_None) {
        if (!PyTuple_Check(prefixes)) {
            PyErr_SetString(PyExc_TypeError, "cut: prefixes must be a tuple of bytes or None");
            goto done_buffers;
        }
        Py_ssize_t n = PyTuple_GET_SIZE(prefixes);
        o.prefixes = PyMem_Calloc(n ? (size_t)n : 1, sizeof(Py_buffer));
        if (o.prefixes == NULL) {
            PyErr_NoMemory();
            goto done_buffers;
        }
        for (; o.prefix_count < n; o.prefix_count++)
            if (PyObject_GetBuffer(PyTuple_GET_ITEM(prefixes, o.prefix_count), &o.prefixes[o.prefix_count],
                                   PyBUF_SIMPLE) < 0)
                goto done;
    }
    Input in = {buffer.buf, (size_t)buffer.len};
    size_t pos = (size_t)start, commands = 0;
    int stop;
    Py_BEGIN_ALLOW_THREADS
    stop = cut_entries(&in, &pos, &o, &out, &commands);
    Py_END_ALLOW_THREADS
    if (stop < 0) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_BuildValue("(y#nni)", out.data ? out.data : "", (Py_ssize_t)out.size, (Py_ssize_t)commands,
                           (Py_ssize_t)pos, stop);
done:
    if (o.prefixes != NULL) release_prefixes(o.prefixes, o.prefix_count);
done_buffers:
    free(out.data);
    PyBuffer_Release(&exclude);
    PyBuffer_Release(&buffer);
    return result;
}

PyDoc_STRVAR(crc64_doc, "crc64(data) -> int: the CRC-64/Redis (Jones) of `data`, as DUMP payloads carry it.");

static PyObject *crc64_py(PyObject *self, PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    uint64_t crc = crc64(0, data.buf, (size_t)data.len);
    PyBuffer_Release(&data);
    return PyLong_FromUnsignedLongLong(crc);
}

/* -- counting stored commands ----------------------------------------------------------------- */
/* A RESP header line "<mark><digits>\r\n" at *pos; -1 when malformed. */
static long long header(const unsigned char *buf, size_t len, size_t *pos, unsigned char mark) {
    size_t p = *pos;
    if (p >= len || buf[p] != mark) return -1;
    long long value = 0;
    size_t digits = 0;
    for (p++; p < len && buf[p] >= '0' && buf[p] <= '9' && digits < 18; p++, digits++)
        value = value * 10 + (buf[p] - '0');
    if (digits == 0 || len - p < 2 || buf[p] != '\r' || buf[p + 1] != '\n') return -1;
    *pos = p + 2;
    return value;
}

/* writes[db] += count */
static int add_writes(PyObject *writes, long long db, long long count) {
    PyObject *key = PyLong_FromLongLong(db);
    if (key == NULL) return -1;
    PyObject *old = PyDict_GetItemWithError(writes, key);
    if (old) count += PyLong_AsLongLong(old);
    PyObject *value = (old || !PyErr_Occurred()) ? PyLong_FromLongLong(count) : NULL;
    int rc = value ? PyDict_SetItem(writes, key, value) : -1;
    Py_XDECREF(value);
    Py_DECREF(key);
    return rc;
}

PyDoc_STRVAR(count_doc,
"count_commands(payload) -> (commands: int, writes: dict[int, int])\n\n"
"The commands of concatenated RESP arrays of bulk strings (SELECTs included), and the commands\n"
"other than SELECT per database they run in (the payload starts in database 0).");

static PyObject *count_commands(PyObject *self, PyObject *args) {
    Py_buffer payload;
    if (!PyArg_ParseTuple(args, "y*", &payload)) return NULL;
    const unsigned char *buf = payload.buf;
    size_t len = (size_t)payload.len, pos = 0;
    long long db = 0, run = 0, total = 0; /* run: writes in `db` not yet added to `writes` */
    PyObject *writes = PyDict_New(), *result = NULL;
    if (writes == NULL) goto done;
    while (pos < len) {
        long long items = header(buf, len, &pos, '*'), select_db = -1;
        if (items < 1) goto malformed;
        for (long long i = 0; i < items; i++) {
            long long size = header(buf, len, &pos, '$');
            if (size < 0 || (size_t)size > len - pos || len - pos - (size_t)size < 2) goto malformed;
            const unsigned char *arg = buf + pos;
            if (i == 0 && size == 6 && strncasecmp((const char *)arg, "select", 6) == 0) select_db = -2;
            else if (i == 1 && select_db == -2) {
                size_t p = 0;
                long long value = 0;
                for (; p < (size_t)size && p < 18 && arg[p] >= '0' && arg[p] <= '9'; p++) value = value * 10 + (arg[p] - '0');
                if (p == 0 || p != (size_t)size) goto malformed;
                select_db = value;
            }
            pos += (size_t)size + 2;
        }
        total++;
        if (select_db == -2) goto malformed;
        if (select_db >= 0) {
            if (run && add_writes(writes, db, run) < 0) goto done;
            db = select_db;
            run = 0;
            continue;
        }
        run++;
    }
    if (run && add_writes(writes, db, run) < 0) goto done;
    goto build;
malformed:
    PyErr_SetString(PyExc_ValueError, "count_commands: the payload is not RESP arrays of bulk strings");
    goto done;
build:
    result = Py_BuildValue("(LO)", total, writes);
done:
    Py_XDECREF(writes);
    PyBuffer_Release(&payload);
    return result;
}

static PyMethodDef methods[] = {
    {"cut", cut, METH_VARARGS, cut_doc},
    {"crc64", crc64_py, METH_VARARGS, crc64_doc},
    {"count_commands", count_commands, METH_VARARGS, count_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rdbcut", NULL, -1, methods};

PyMODINIT_FUNC PyInit__rdbcut(void) {
    crc64_init();
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddIntConstant(m, "NEED_MORE", NEED_MORE) < 0 || PyModule_AddIntConstant(m, "FULL", FULL) < 0 ||
        PyModule_AddIntConstant(m, "OTHER", OTHER) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
