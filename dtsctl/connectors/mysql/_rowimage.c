/* Row images of a MySQL/MariaDB rows event, decoded in one call per event, straight into the
 * form the change log stores (dtsctl.engine.records): each image is (names, values), with
 * DECIMAL, DATETIME, TIMESTAMP, DATE and TIME values tagged as `records._marshallable` tags
 * them, so that a row the reader only stores never becomes Decimal or datetime objects.
 *
 * A `Plan` is built once per table map from its columns (row_decoder.build): each column is
 * one of the kinds below, decoded here, or a Python reader `(data, pos) -> (value, pos)` for
 * the rare types row_decoder.py reads itself (YEAR, ENUM, SET, BIT). `records.row` of each
 * image is exactly, value for value and type for type, python-mysql-replication's decoding
 * normalised (tests/integration/mysql/test_row_decoder.py checks every type). CPython C API only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <stdint.h>
#include <string.h>

enum Kind {
    K_PYTHON = 0,     /* reader: a Python callable */
    K_INT = 1,        /* size: 1, 2, 3, 4 or 8 bytes, little-endian; flag: unsigned */
    K_FLOAT = 2,      /* 4 bytes */
    K_DOUBLE = 3,     /* 8 bytes */
    K_TEXT = 4,       /* size: bytes of the length; flag: UTF-8; encoding: the codec otherwise */
    K_BYTES = 5,      /* size: bytes of the length; pad: right-padded with zero bytes to this length */
    K_DECIMAL = 6,    /* precision, scale */
    K_DATETIME2 = 7,  /* fsp */
    K_TIMESTAMP2 = 8, /* fsp */
    K_DATE = 9,
    K_TIME2 = 10,     /* fsp */
};

enum { OP_INSERT = 0, OP_UPDATE = 1, OP_DELETE = 2 };

static const int DECIMAL_BYTES[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4}; /* bytes of 0..9 leftover digits */

/* records._marshallable's tags: ("d", text), ("dt", microseconds since 0001-01-01),
   ("date", "YYYY-MM-DD"), ("td", microseconds) */
static PyObject *TagDecimal, *TagDatetime, *TagDate, *TagDuration;

static const int64_t EPOCH_DAYS = 719162; /* days from 0001-01-01 to 1970-01-01 */

typedef struct {
    int kind;
    long a;          /* size, precision or fsp */
    long b;          /* unsigned flag, UTF-8 flag, pad, or scale */
    PyObject *other; /* the encoding (K_TEXT) or the reader (K_PYTHON); owned */
    const char *encoding; /* K_TEXT not UTF-8: `other` as a C string, read once */
} Column;

typedef struct {
    PyObject_HEAD
    Py_ssize_t count;
    PyObject *names; /* tuple of str */
    Column *columns;
} Plan;

typedef struct {
    PyObject *data; /* the event's bytes object */
    const unsigned char *bytes;
    Py_ssize_t pos, end;
} Cursor;

/* (tag, value), stealing the reference to `value`. */
static PyObject *tagged(PyObject *tag, PyObject *value) {
    if (value == NULL) return NULL;
    PyObject *pair = PyTuple_Pack(2, tag, value);
    Py_DECREF(value);
    return pair;
}

static int leap(int year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

static int days_in_month(int year, int month) {
    static const int days[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && leap(year) ? 29 : days[month];
}

/* True for a date Python's datetime accepts. */
static int valid_date(int year, int month, int day) {
    return year >= 1 && year <= 9999 && month >= 1 && month <= 12 && day >= 1 && day <= days_in_month(year, month);
}

/* Days from 0001-01-01 to a valid date (date.toordinal() - 1). */
static int64_t days_since_year_one(int year, int month, int day) {
    int64_t y = year - 1, days = y * 365 + y / 4 - y / 100 + y / 400;
    for (int m = 1; m < month; m++) days += days_in_month(year, m);
    return days + day - 1;
}

static int need(Cursor *c, Py_ssize_t n) {
    if (n < 0 || c->pos + n > c->end) {
        PyErr_SetString(PyExc_ValueError, "a rows event ends inside a row");
        return -1;
    }
    return 0;
}

static uint64_t little(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint64_t big(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

static int64_t signed_big(const unsigned char *p, int n) {
    uint64_t v = big(p, n);
    if (n < 8 && (v >> (8 * n - 1)) & 1) v |= ~(uint64_t)0 << (8 * n);
    return (int64_t)v;
}

/* Microseconds from a temporal value's fractional bytes, as row_decoder._fraction did. */
static int64_t fraction(const unsigned char *p, long fsp, int size) {
    if (!size) return 0;
    int64_t value = signed_big(p, size);
    if (fsp % 2) value /= 10; /* C division truncates toward zero, as int(value / 10) does */
    for (long i = fsp; i < 6; i++) value *= 10;
    return value;
}

static PyObject *read_int(Cursor *c, Column *col) {
    int size = (int)col->a;
    if (need(c, size) < 0) return NULL;
    uint64_t v = little(c->bytes + c->pos, size);
    c->pos += size;
    if (col->b) return PyLong_FromUnsignedLongLong(v);
    if (size < 8 && (v >> (8 * size - 1)) & 1) v |= ~(uint64_t)0 << (8 * size);
    return PyLong_FromLongLong((int64_t)v);
}

static PyObject *read_float(Cursor *c, int size) {
    if (need(c, size) < 0) return NULL;
    const char *p = (const char *)c->bytes + c->pos;
    double v = size == 4 ? PyFloat_Unpack4(p, 1) : PyFloat_Unpack8(p, 1);
    if (v == -1.0 && PyErr_Occurred()) return NULL;
    c->pos += size;
    return PyFloat_FromDouble(v);
}

static int length_prefixed(Cursor *c, int size, Py_ssize_t *length) {
    if (need(c, size) < 0) return -1;
    *length = (Py_ssize_t)little(c->bytes + c->pos, size);
    if (need(c, size + *length) < 0) return -1;
    c->pos += size;
    return 0;
}

static PyObject *read_text(Cursor *c, Column *col) {
    Py_ssize_t length;
    if (length_prefixed(c, (int)col->a, &length) < 0) return NULL;
    const char *p = (const char *)c->bytes + c->pos;
    PyObject *v = col->b ? PyUnicode_DecodeUTF8(p, length, NULL)
                         : PyUnicode_Decode(p, length, col->encoding, NULL);
    if (v != NULL) c->pos += length;
    return v;
}

static PyObject *read_bytes(Cursor *c, Column *col) {
    Py_ssize_t length;
    if (length_prefixed(c, (int)col->a, &length) < 0) return NULL;
    Py_ssize_t size = length < col->b ? col->b : length;
    PyObject *v = PyBytes_FromStringAndSize(NULL, size);
    if (v == NULL) return NULL;
    memcpy(PyBytes_AS_STRING(v), c->bytes + c->pos, length);
    memset(PyBytes_AS_STRING(v) + length, 0, size - length);
    c->pos += length;
    return v;
}

/* MySQL's packed DECIMAL: groups of 9 digits in 4 big-endian bytes, leftover digits in fewer,
   the sign in the top bit of the first byte, negative values stored inverted. Written as
   text without leading zeros ("-12.50", "0.5", "7." for a scale of 0), which Decimal reads. */
static PyObject *read_decimal(Cursor *c, Column *col) {
    long integral = col->a - col->b;
    long whole_int = integral / 9, left_int = integral % 9;
    long whole_frac = col->b / 9, left_frac = col->b % 9;
    int head = DECIMAL_BYTES[left_int], tail = DECIMAL_BYTES[left_frac];
    Py_ssize_t total = head + 4 * (whole_int + whole_frac) + tail;
    unsigned char raw[64];
    char digits[160], text[162];
    if (total > (Py_ssize_t)sizeof(raw)) {
        PyErr_SetString(PyExc_ValueError, "a DECIMAL wider than MySQL allows");
        return NULL;
    }
    if (need(c, total) < 0) return NULL;
    memcpy(raw, c->bytes + c->pos, total);
    int negative = !(raw[0] & 0x80);
    raw[0] ^= 0x80;
    if (negative)
        for (Py_ssize_t i = 0; i < total; i++) raw[i] ^= 0xFF;
    int n = 0, at = 0;
    if (head) {
        n += sprintf(digits + n, "%llu", (unsigned long long)big(raw, head));
        at = head;
    }
    for (long i = 0; i < whole_int; i++, at += 4) n += sprintf(digits + n, "%09llu", (unsigned long long)big(raw + at, 4));
    int first = 0;
    while (first < n - 1 && digits[first] == '0') first++;
    int length = 0;
    if (negative) text[length++] = '-';
    if (n) {
        memcpy(text + length, digits + first, n - first);
        length += n - first;
    } else {
        text[length++] = '0';
    }
    text[length++] = '.';
    for (long i = 0; i < whole_frac; i++, at += 4) length += sprintf(text + length, "%09llu", (unsigned long long)big(raw + at, 4));
    if (tail) length += sprintf(text + length, "%0*llu", (int)left_frac, (unsigned long long)big(raw + at, tail));
    c->pos += total;
    return tagged(TagDecimal, PyUnicode_FromStringAndSize(text, length));
}

/* The error datetime.replace raises for microseconds past 999,999 (row_decoder set them so). */
static PyObject *microseconds_out_of_range(void) {
    PyErr_SetString(PyExc_ValueError, "microsecond must be in 0..999999");
    return NULL;
}

static PyObject *read_datetime2(Cursor *c, Column *col) {
    int frac = (int)(col->a + 1) / 2;
    if (need(c, 5 + frac) < 0) return NULL;
    const unsigned char *p = c->bytes + c->pos;
    uint64_t packed = big(p, 5);
    long year_month = (long)((packed >> 22) & 0x1FFFF);
    int year = (int)(year_month / 13), month = (int)(year_month % 13), day = (int)((packed >> 17) & 0x1F);
    int hour = (int)((packed >> 12) & 0x1F), minute = (int)((packed >> 6) & 0x3F), second = (int)(packed & 0x3F);
    int64_t micro = fraction(p + 5, col->a, frac); /* not positive: none */
    c->pos += 5 + frac;
    if (!valid_date(year, month, day) || hour > 23 || minute > 59 || second > 59)
        Py_RETURN_NONE; /* a zero date: python-mysql-replication gives None, whatever the fraction */
    if (micro > 999999) return microseconds_out_of_range();
    if (micro < 0) micro = 0;
    int64_t seconds = days_since_year_one(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    return tagged(TagDatetime, PyLong_FromLongLong(seconds * 1000000 + micro));
}

static PyObject *read_timestamp2(Cursor *c, Column *col) {
    int frac = (int)(col->a + 1) / 2;
    if (need(c, 4 + frac) < 0) return NULL;
    const unsigned char *p = c->bytes + c->pos;
    int64_t micro = fraction(p + 4, col->a, frac); /* not positive: none */
    if (micro > 999999) return microseconds_out_of_range();
    if (micro < 0) micro = 0;
    int64_t seconds = signed_big(p, 4);
    c->pos += 4 + frac;
    return tagged(TagDatetime, PyLong_FromLongLong((EPOCH_DAYS * 86400 + seconds) * 1000000 + micro));
}

static PyObject *read_date(Cursor *c) {
    if (need(c, 3) < 0) return NULL;
    uint64_t packed = little(c->bytes + c->pos, 3);
    int year = (int)(packed >> 9 & 0x7FFF), month = (int)(packed >> 5 & 0xF), day = (int)(packed & 0x1F);
    c->pos += 3;
    if (!(year && month && day)) Py_RETURN_NONE; /* a zero date: python-mysql-replication gives None */
    if (!valid_date(year, month, day)) return PyDate_FromDate(year, month, day); /* the error it raises */
    return tagged(TagDate, PyUnicode_FromFormat("%04d-%02d-%02d", year, month, day));
}

static PyObject *read_time2(Cursor *c, Column *col) {
    int frac = (int)(col->a + 1) / 2;
    if (need(c, 3 + frac) < 0) return NULL;
    const unsigned char *p = c->bytes + c->pos;
    int64_t packed = signed_big(p, 3);
    int sign = packed & 0x800000 ? 1 : -1; /* as row_decoder did on Python's ints: the same bits */
    if (sign == -1) packed = -packed;
    int64_t seconds = ((packed >> 12) & 0x3FF) * 3600 + ((packed >> 6) & 0x3F) * 60 + (packed & 0x3F);
    int64_t micro = fraction(p + 3, col->a, frac);
    c->pos += 3 + frac;
    return tagged(TagDuration, PyLong_FromLongLong(sign * (seconds * 1000000 + micro)));
}

static PyObject *read_python(Cursor *c, Column *col) {
    PyObject *result = PyObject_CallFunction(col->other, "On", c->data, c->pos);
    if (result == NULL) return NULL;
    Py_ssize_t pos;
    if (!PyTuple_Check(result) || PyTuple_GET_SIZE(result) != 2 ||
        (pos = PyLong_AsSsize_t(PyTuple_GET_ITEM(result, 1))) < 0) {
        Py_DECREF(result);
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a column reader must return (value, position)");
        return NULL;
    }
    if (pos > c->end) {
        Py_DECREF(result);
        PyErr_SetString(PyExc_ValueError, "a rows event ends inside a row");
        return NULL;
    }
    PyObject *v = PyTuple_GET_ITEM(result, 0);
    Py_INCREF(v);
    Py_DECREF(result);
    c->pos = pos;
    return v;
}

static PyObject *read_value(Cursor *c, Column *col) {
    switch (col->kind) {
    case K_INT: return read_int(c, col);
    case K_FLOAT: return read_float(c, 4);
    case K_DOUBLE: return read_float(c, 8);
    case K_TEXT: return read_text(c, col);
    case K_BYTES: return read_bytes(c, col);
    case K_DECIMAL: return read_decimal(c, col);
    case K_DATETIME2: return read_datetime2(c, col);
    case K_TIMESTAMP2: return read_timestamp2(c, col);
    case K_DATE: return read_date(c);
    case K_TIME2: return read_time2(c, col);
    default: return read_python(c, col);
    }
}

/* One row image, (names, values): its NULL bitmap, then each non-NULL column's value. */
static PyObject *read_image(Plan *plan, Cursor *c) {
    Py_ssize_t bitmap = (plan->count + 7) / 8;
    if (need(c, bitmap) < 0) return NULL;
    const unsigned char *nulls = c->bytes + c->pos;
    c->pos += bitmap;
    PyObject *values = PyTuple_New(plan->count);
    if (values == NULL) return NULL;
    for (Py_ssize_t i = 0; i < plan->count; i++) {
        PyObject *value;
        if (nulls[i / 8] >> (i % 8) & 1) {
            value = Py_None;
            Py_INCREF(value);
        } else if ((value = read_value(c, &plan->columns[i])) == NULL) {
            Py_DECREF(values);
            return NULL;
        }
        PyTuple_SET_ITEM(values, i, value);
    }
    PyObject *image = PyTuple_Pack(2, plan->names, values);
    Py_DECREF(values);
    return image;
}

static PyObject *Plan_decode(Plan *self, PyObject *args) {
    PyObject *data;
    Py_ssize_t pos, end;
    int op;
    if (!PyArg_ParseTuple(args, "O!nni", &PyBytes_Type, &data, &pos, &end, &op)) return NULL;
    if (pos < 0 || end < pos || end > PyBytes_GET_SIZE(data)) {
        PyErr_SetString(PyExc_ValueError, "row images outside the event");
        return NULL;
    }
    Cursor c = {data, (const unsigned char *)PyBytes_AS_STRING(data), pos, end};
    PyObject *out = PyList_New(0);
    if (out == NULL) return NULL;
    while (c.pos < c.end) {
        PyObject *first = read_image(self, &c), *second = NULL, *pair;
        if (first == NULL) goto failed;
        if (op == OP_UPDATE) {
            if ((second = read_image(self, &c)) == NULL) {
                Py_DECREF(first);
                goto failed;
            }
            pair = PyTuple_Pack(2, first, second);
            Py_DECREF(second);
        } else if (op == OP_INSERT) {
            pair = PyTuple_Pack(2, Py_None, first);
        } else {
            pair = PyTuple_Pack(2, first, Py_None);
        }
        Py_DECREF(first);
        if (pair == NULL) goto failed;
        int failed_append = PyList_Append(out, pair);
        Py_DECREF(pair);
        if (failed_append) goto failed;
    }
    return out;
failed:
    Py_DECREF(out);
    return NULL;
}

static void Plan_clear_columns(Plan *self) {
    if (self->columns != NULL) {
        for (Py_ssize_t i = 0; i < self->count; i++) Py_XDECREF(self->columns[i].other);
        PyMem_Free(self->columns);
        self->columns = NULL;
    }
}

static void Plan_dealloc(Plan *self) {
    Plan_clear_columns(self);
    Py_XDECREF(self->names);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Plan(names, columns): columns[i] is (kind, a, b, other) as described at `Column`. */
static int Plan_init(Plan *self, PyObject *args, PyObject *kwds) {
    PyObject *names, *columns;
    if (!PyArg_ParseTuple(args, "O!O!", &PyTuple_Type, &names, &PyTuple_Type, &columns)) return -1;
    Py_ssize_t count = PyTuple_GET_SIZE(columns);
    if (PyTuple_GET_SIZE(names) != count) {
        PyErr_SetString(PyExc_ValueError, "one name per column");
        return -1;
    }
    Plan_clear_columns(self);
    self->columns = PyMem_Calloc(count ? count : 1, sizeof(Column));
    if (self->columns == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->count = count;
    for (Py_ssize_t i = 0; i < count; i++) {
        Column *col = &self->columns[i];
        PyObject *other;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(columns, i), "illO", &col->kind, &col->a, &col->b, &other)) return -1;
        if (col->kind < K_PYTHON || col->kind > K_TIME2 || (col->kind == K_INT && col->a != 1 && col->a != 2 &&
                col->a != 3 && col->a != 4 && col->a != 8) || ((col->kind == K_TEXT || col->kind == K_BYTES) &&
                (col->a < 1 || col->a > 4)) || (col->kind == K_DECIMAL && (col->b < 0 || col->a < col->b)) ||
                ((col->kind == K_DATETIME2 || col->kind == K_TIMESTAMP2 || col->kind == K_TIME2) && (col->a < 0 || col->a > 6)) ||
                (col->kind == K_TEXT && !col->b && !PyUnicode_Check(other)) ||
                (col->kind == K_PYTHON && !PyCallable_Check(other))) {
            PyErr_Format(PyExc_ValueError, "column %zd: not a column this module decodes", i);
            return -1;
        }
        if (col->kind == K_TEXT && !col->b && (col->encoding = PyUnicode_AsUTF8(other)) == NULL) return -1;
        Py_INCREF(other);
        col->other = other;
    }
    Py_INCREF(names);
    Py_XSETREF(self->names, names);
    return 0;
}

static PyMethodDef Plan_methods[] = {
    {"decode", (PyCFunction)Plan_decode, METH_VARARGS,
     "decode(data, pos, end, op) -> [(before, after), ...]: the row images in data[pos:end], each "
     "(names, values) as the change log stores it; op is 0 insert, 1 update, 2 delete."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PlanType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dtsctl.connectors.mysql._rowimage.Plan",
    .tp_basicsize = sizeof(Plan),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "How to decode the row images of one table map's rows events.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Plan_init,
    .tp_dealloc = (destructor)Plan_dealloc,
    .tp_methods = Plan_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_rowimage", "Row images of MySQL rows events, decoded in compiled code.", -1, NULL,
};

PyMODINIT_FUNC PyInit__rowimage(void) {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
    TagDecimal = PyUnicode_InternFromString("d");
    TagDatetime = PyUnicode_InternFromString("dt");
    TagDate = PyUnicode_InternFromString("date");
    TagDuration = PyUnicode_InternFromString("td");
    if (TagDecimal == NULL || TagDatetime == NULL || TagDate == NULL || TagDuration == NULL ||
        PyType_Ready(&PlanType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&PlanType);
    if (PyModule_AddObject(m, "Plan", (PyObject *)&PlanType) < 0 ||
        PyModule_AddIntConstant(m, "PYTHON", K_PYTHON) < 0 || PyModule_AddIntConstant(m, "INT", K_INT) < 0 ||
        PyModule_AddIntConstant(m, "FLOAT", K_FLOAT) < 0 || PyModule_AddIntConstant(m, "DOUBLE", K_DOUBLE) < 0 ||
        PyModule_AddIntConstant(m, "TEXT", K_TEXT) < 0 || PyModule_AddIntConstant(m, "BYTES", K_BYTES) < 0 ||
        PyModule_AddIntConstant(m, "DECIMAL", K_DECIMAL) < 0 ||
        PyModule_AddIntConstant(m, "DATETIME2", K_DATETIME2) < 0 ||
        PyModule_AddIntConstant(m, "TIMESTAMP2", K_TIMESTAMP2) < 0 || PyModule_AddIntConstant(m, "DATE", K_DATE) < 0 ||
        PyModule_AddIntConstant(m, "TIME2", K_TIME2) < 0 ||
        PyModule_AddIntConstant(m, "INSERT", OP_INSERT) < 0 || PyModule_AddIntConstant(m, "UPDATE", OP_UPDATE) < 0 ||
        PyModule_AddIntConstant(m, "DELETE", OP_DELETE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
