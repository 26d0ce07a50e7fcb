/*
 * embed.c — a build tool (the Makefile builds and runs it): compiles the
 * stdlib's Lua files to bytecode, with the chunknames they get when loaded
 * from files ("@<absolute stdlib>/wpo/x.lua", which the stack sandbox goes
 * by) and their line numbers, but without the names of local variables and
 * upvalues other than _ENV (see strip_names), and writes
 *   BLOB   the chunks, one after another
 *   C      the index engine/state.c reads: the stdlib's absolute path, each
 *          module's name, offset and length in the blob, the resource types
 *          the modules define, and the blob itself (.incbin)
 * It owns nothing at run time; engine/state.c decides when the embedded
 * copy is used (without WPO_STDLIB).
 *
 *   embed STDLIB OUT_C OUT_BLOB FILE...    FILE relative to STDLIB (wpo/cli.lua);
 *                                          STDLIB and OUT_BLOB absolute
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

struct blob {
    FILE *f;
    size_t len;
};

/* a growing buffer: one chunk as lua_dump writes it, or as strip_names does */
struct buf {
    unsigned char *p;
    size_t len, cap;
    int oom;
};

static void put(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *more = realloc(b->p, cap);
        if (!more) {
            b->oom = 1;
            return;
        }
        b->p = more;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static int write_chunk(lua_State *L, const void *p, size_t n, void *ud)
{
    (void)L;
    put(ud, p, n);
    return ((struct buf *)ud)->oom;
}

/* ---- strip_names ----
 * Lua 5.4's dump of a function (ldump.c): source, line defined, last line,
 * 3 bytes, code, constants, upvalues, nested functions, then the debug
 * information: line info, absolute line info, local variables (name, start,
 * end) and upvalue names. Sizes are varints, 7 bits a byte, most significant
 * first, the last byte marked with 0x80; a string is its size + 1 (0: none)
 * and its bytes. strip_names copies a chunk with no local variable names
 * and no upvalue name but _ENV: loading the modules of a plan then interns
 * fewer strings and allocates a vector fewer per function. The source
 * names and line numbers, which wpo's messages point at, stay
 * (tests/embedded_spec.lua), and _ENV's name keeps Lua's "global 'x'" in
 * messages inside the stdlib; what goes is "local 'x'" and "upvalue 'y'"
 * (shown as "?"). WPO_STDLIB=<checkout>/stdlib loads the sources with every
 * name. */
struct reader {
    const unsigned char *p, *end;
    int bad;
};

static const unsigned char *take(struct reader *r, size_t n)
{
    if ((size_t)(r->end - r->p) < n) {
        r->bad = 1;
        r->p = r->end;
        return NULL;
    }
    const unsigned char *at = r->p;
    r->p += n;
    return at;
}

static size_t read_size(struct reader *r)
{
    size_t x = 0;
    const unsigned char *b;
    do {
        b = take(r, 1);
        if (!b)
            return 0;
        x = (x << 7) | (*b & 0x7f);
    } while (!(*b & 0x80));
    return x;
}

static void put_size(struct buf *w, size_t x)
{
    unsigned char tmp[sizeof(size_t) * 8 / 7 + 1];
    size_t n = 0;
    do {
        tmp[sizeof tmp - ++n] = x & 0x7f;
        x >>= 7;
    } while (x);
    tmp[sizeof tmp - 1] |= 0x80;
    put(w, tmp + sizeof tmp - n, n);
}

static void copy(struct reader *r, struct buf *w, size_t n)
{
    const unsigned char *p = take(r, n);
    if (p)
        put(w, p, n);
}

static size_t copy_size(struct reader *r, struct buf *w)
{
    size_t x = read_size(r);
    put_size(w, x);
    return x;
}

static void copy_string(struct reader *r, struct buf *w)
{
    size_t n = copy_size(r, w);
    if (n)
        copy(r, w, n - 1);
}

static void skip_string(struct reader *r)
{
    size_t n = read_size(r);
    if (n)
        take(r, n - 1);
}

static void strip_function(struct reader *r, struct buf *w, int depth)
{
    if (depth > 200) {
        r->bad = 1;
        return;
    }
    copy_string(r, w);                          /* source */
    copy_size(r, w);                            /* linedefined */
    copy_size(r, w);                            /* lastlinedefined */
    copy(r, w, 3);                              /* numparams, is_vararg, maxstacksize */
    copy(r, w, copy_size(r, w) * 4);            /* code */
    for (size_t n = copy_size(r, w); n > 0 && !r->bad; n--) {   /* constants */
        const unsigned char *tag = take(r, 1);
        if (!tag)
            break;
        put(w, tag, 1);
        if (*tag == 0x03 || *tag == 0x13)       /* integer, float */
            copy(r, w, 8);
        else if (*tag == 0x04 || *tag == 0x14)  /* short, long string */
            copy_string(r, w);
    }
    copy(r, w, copy_size(r, w) * 3);            /* upvalues: instack, idx, kind */
    for (size_t n = copy_size(r, w); n > 0 && !r->bad; n--)
        strip_function(r, w, depth + 1);
    copy(r, w, copy_size(r, w));                /* line info */
    for (size_t n = copy_size(r, w); n > 0 && !r->bad; n--) {   /* absolute line info */
        copy_size(r, w);
        copy_size(r, w);
    }
    for (size_t n = read_size(r); n > 0 && !r->bad; n--) {      /* local variables */
        skip_string(r);
        read_size(r);
        read_size(r);
    }
    put_size(w, 0);
    for (size_t n = copy_size(r, w); n > 0 && !r->bad; n--) {   /* upvalue names: _ENV's only */
        size_t len = read_size(r);
        const unsigned char *name = len ? take(r, len - 1) : NULL;
        if (name && len - 1 == 4 && memcmp(name, "_ENV", 4) == 0) {
            put_size(w, len);
            put(w, name, 4);
        } else {
            put_size(w, 0);
        }
    }
}

/* The header this build's Lua writes: signature, version 5.4, format 0,
 * LUAC_DATA, sizes of Instruction (4), lua_Integer (8) and lua_Number (8),
 * then LUAC_INT and LUAC_NUM (8 bytes each); the main function's number of
 * upvalues follows. */
#define HEADER_LEN 31
static const unsigned char header_start[] = "\x1bLua\x54\x00\x19\x93\r\n\x1a\n\x04\x08\x08";

/* 0 and out filled, or -1: the chunk is not in the layout above */
static int strip_names(const struct buf *in, struct buf *out)
{
    struct reader r = { in->p, in->p + in->len, 0 };
    if (in->len < HEADER_LEN + 1 || memcmp(in->p, header_start, sizeof header_start - 1) != 0)
        return -1;
    copy(&r, out, HEADER_LEN + 1);
    strip_function(&r, out, 0);
    return r.bad || out->oom || r.p != r.end ? -1 : 0;
}

/* "wpo/state/init.lua" -> "wpo.state"; "wpo/cli.lua" -> "wpo.cli" */
static void module_name(const char *rel, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", rel);
    size_t n = strlen(out);
    if (n > 4 && strcmp(out + n - 4, ".lua") == 0)
        out[n -= 4] = '\0';
    if (n > 5 && strcmp(out + n - 5, "/init") == 0)
        out[n - 5] = '\0';
    for (char *c = out; *c; c++)
        if (*c == '/')
            *c = '.';
}

/* a C string literal of s */
static void put_literal(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Every `resource.define "name"` (or `resource.define("name"`) in src. */
static void scan_types(const char *src, FILE *out)
{
    static const char key[] = "resource.define";
    for (const char *p = strstr(src, key); p; p = strstr(p + 1, key)) {
        const char *q = p + sizeof key - 1;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '(')
            q++;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q != '"')
            continue;
        const char *start = ++q;
        while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_' ||
               *q == '.')
            q++;
        if (*q != '"' || q == start)
            continue;
        fprintf(out, "    \"%.*s\",\n", (int)(q - start), start);
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *more = realloc(buf, (cap *= 2) + 1);
            if (!more) {
                free(buf);
                buf = NULL;
            }
            buf = more;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: embed STDLIB OUT_C OUT_BLOB FILE...\n");
        return 2;
    }
    const char *root = argv[1], *out_c = argv[2], *out_blob = argv[3];
    struct blob b = { fopen(out_blob, "wb"), 0 };
    FILE *c = fopen(out_c, "w");
    FILE *types = tmpfile();
    if (!b.f || !c || !types) {
        perror("embed");
        return 1;
    }
    lua_State *L = luaL_newstate();
    fprintf(c, "/* generated by tools/embed.c from the stdlib: do not edit */\n"
               "#include \"embedded.h\"\n\n"
               "const char wpo_embedded_root[] = ");
    put_literal(c, root);
    fprintf(c, ";\n\nconst struct wpo_embedded_module wpo_embedded_modules[] = {\n");
    for (int i = 4; i < argc; i++) {
        char path[4096], name[1024];
        snprintf(path, sizeof path, "%s/%s", root, argv[i]);
        module_name(argv[i], name, sizeof name);
        /* luaL_loadfilex names the chunk "@" .. path, as a file search does */
        if (luaL_loadfilex(L, path, "t") != LUA_OK) {
            fprintf(stderr, "embed: %s\n", lua_tostring(L, -1));
            return 1;
        }
        size_t offset = b.len;
        struct buf full = { 0 }, stripped = { 0 };
        int dumped = lua_dump(L, write_chunk, &full, 0) == 0;
        if (!dumped || full.oom || strip_names(&full, &stripped) != 0) {
            if (full.oom || stripped.oom)
                fprintf(stderr, "embed: %s: out of memory\n", path);
            else
                fprintf(stderr, "embed: %s: the bytecode is not Lua 5.4's layout as strip_names reads it\n", path);
            return 1;
        }
        lua_pop(L, 1);
        /* what the engine will load must load */
        if (luaL_loadbufferx(L, (const char *)stripped.p, stripped.len, name, "b") != LUA_OK) {
            fprintf(stderr, "embed: %s: the stripped bytecode does not load: %s\n", path, lua_tostring(L, -1));
            return 1;
        }
        lua_pop(L, 1);
        if (fwrite(stripped.p, 1, stripped.len, b.f) != stripped.len) {
            fprintf(stderr, "embed: cannot write %s\n", out_blob);
            return 1;
        }
        b.len += stripped.len;
        free(full.p);
        free(stripped.p);
        fprintf(c, "    {");
        put_literal(c, name);
        fprintf(c, ", %zu, %zu},\n", offset, b.len - offset);
        char *src = slurp(path);
        if (src)
            scan_types(src, types);
        free(src);
    }
    fprintf(c, "    {0, 0, 0}\n};\n\nconst char *const wpo_embedded_types[] = {\n");
    rewind(types);
    int ch;
    while ((ch = fgetc(types)) != EOF)
        fputc(ch, c);
    fprintf(c, "    0\n};\n\n"
               "__asm__(\".section .rodata\\n.balign 16\\n.globl wpo_embedded_blob\\n\"\n"
               "        \"wpo_embedded_blob:\\n.incbin \\\"");
    for (const char *s = out_blob; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputs("\\\\\\", c);
        fputc(*s, c);
    }
    fprintf(c, "\\\"\\n.byte 0\\n.previous\\n\");\n");
    lua_close(L);
    if (fclose(b.f) != 0 || fclose(c) != 0) {
        perror("embed");
        return 1;
    }
    fclose(types);
    return 0;
}
