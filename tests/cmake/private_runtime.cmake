# Included by the check_*.cmake scripts: the nested project's runs keep their run directories
# apart from everyone else's, in a private runtime directory for `build`. Under /tmp, named by a
# digest of the build path: a deep build tree would make the control socket's path longer than a
# Unix socket's 108 bytes.
string(MD5 runtime_key "${build}")
string(SUBSTRING "${runtime_key}" 0 12 runtime_key)
set(runtime "/tmp/afterlife-cmake-${runtime_key}")
file(REMOVE_RECURSE "${runtime}")
file(MAKE_DIRECTORY "${runtime}")
file(CHMOD "${runtime}" DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
set(ENV{AFTERLIFE_RUNTIME_DIR} "${runtime}")
