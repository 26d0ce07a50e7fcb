/*
 * gitapi.h — libgit2, loaded with dlopen on first use (as libcurl is, see
 * curlapi.h). wpo is not linked against libgit2: a run that never opens a
 * repository (a stack outside git, validate, most commands) never maps it
 * nor what it pulls in (krb5, libssh2, mbedtls, http_parser, pcre2...),
 * about 3 ms of dynamic loading at every start. The offline plan opens its
 * repository on a worker thread (git.open_start), which loads libgit2 there,
 * off the main thread's path.
 *
 * wpo_git_load() loads the library ($WPO_LIBGIT2 when set, a path or a name
 * for dlopen; else WPO_GIT_SONAME, the soname of the libgit2 whose headers
 * wpo was compiled against), resolves every function wpo calls and runs
 * git_libgit2_init, once per process (thread-safe; later calls return the
 * first outcome). wpo_git_load_lib() only loads and resolves, without
 * git_libgit2_init: enough for git_libgit2_version (sys.versions).
 *
 * Then wpo_git.NAME is git_NAME. git.c and sys.c call them by their own
 * names: they include "gitcalls.h" after this header, which the Makefile
 * generates from WPO_GIT_FUNCTIONS ("#define git_NAME (wpo_git.NAME)" for
 * each; never include it before gitapi.h: the struct's fields are declared
 * with git_NAME's types). A thread other than
 * the one that loaded the library calls wpo_git_load (or _load_lib) before
 * it reads a pointer: the pthread_once in it is the memory barrier.
 */
#ifndef WPO_GITAPI_H
#define WPO_GITAPI_H

#include <stddef.h>

#include "dl.h"

#include <git2.h>

/* The shared object loaded: the soname of the libgit2 of the headers
 * (libgit2 changes its ABI, and so its soname, at every minor release). */
#ifdef LIBGIT2_SOVERSION
#define WPO_GIT_SONAME "libgit2.so." LIBGIT2_SOVERSION
#else
#define WPO_GIT_SONAME "libgit2.so." WPO_STR(LIBGIT2_VER_MAJOR) "." WPO_STR(LIBGIT2_VER_MINOR)
#endif

/* every libgit2 function engine/ calls (git_ left off); the list ends at
 * the first empty line (the Makefile reads it) */
#define WPO_GIT_FUNCTIONS(X) \
    X(libgit2_init) X(libgit2_opts) X(libgit2_version) \
    X(error_clear) X(error_last) X(error_set_oom) X(error_set_str) \
    X(buf_dispose) X(strarray_dispose) \
    X(oid_cpy) X(oid_equal) X(oid_fromstrn) X(oid_tostr) \
    X(odb_free) X(odb_hash) X(odb_read_header) \
    X(repository_free) X(repository_head) X(repository_head_detached) X(repository_init) \
    X(repository_index) X(repository_is_bare) X(repository_odb) X(repository_open_ext) X(repository_path) \
    X(repository_set_head) X(repository_workdir) X(index_free) \
    X(object_free) X(object_id) X(object_lookup) X(object_lookup_prefix) X(object_peel) \
    X(object_short_id) X(revparse_single) \
    X(reference_free) X(reference_lookup) X(reference_name) X(reference_peel) \
    X(branch_iterator_free) X(branch_iterator_new) X(branch_name) X(branch_next) \
    X(tag_foreach) X(tag_list) \
    X(commit_author) X(commit_free) X(commit_id) X(commit_message) X(commit_parentcount) \
    X(commit_summary) X(commit_time) X(commit_tree) \
    X(tree_lookup) X(tree_entry_byindex) X(tree_entry_bypath) X(tree_entry_filemode) \
    X(tree_entry_free) X(tree_entry_id) X(tree_entry_name) X(tree_entry_type) X(tree_entrycount) \
    X(blob_lookup) X(blob_rawcontent) X(blob_rawsize) \
    X(graph_descendant_of) X(merge_base) \
    X(status_byindex) X(status_file) X(status_list_entrycount) X(status_list_free) \
    X(status_list_new) X(status_options_init) \
    X(credential_ssh_key_from_agent) X(credential_ssh_key_new) X(credential_username_new) \
    X(credential_userpass_plaintext_new) \
    X(fetch_options_init) X(remote_add_fetch) X(remote_create_with_fetchspec) \
    X(remote_default_branch) X(remote_fetch) X(remote_free) X(remote_lookup) X(remote_set_url) \
    X(remote_url)

struct wpo_git_api {
#define WPO_GIT_FIELD(name) __typeof__(git_##name) *name;
    WPO_GIT_FUNCTIONS(WPO_GIT_FIELD)
#undef WPO_GIT_FIELD
};

extern struct wpo_git_api wpo_git;

/* 0 once libgit2 is loaded and initialised; -1 with a one-line message in
 * err (e.g. "cannot load libgit2 (needed for git): libgit2.so.1.5: cannot
 * open shared object file: ..."). err may be NULL. */
int wpo_git_load(char *err, size_t errlen);

/* Where libgit2 looked for the system's CA certificates as it initialised
 * (a bundle file, a directory; NULL for neither): wpo defers reading them
 * until a fetch (gitapi.c). Valid once wpo_git_load has returned 0. */
void wpo_git_default_ca(const char **file, const char **dir);

/* 0 once libgit2 is loaded (not initialised: only git_libgit2_version may
 * be called); -1 with the message in err. */
int wpo_git_load_lib(char *err, size_t errlen);

#endif
