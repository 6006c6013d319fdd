/* A program built with -g and without exported symbols that leaks one POSIX shared memory
 * segment, for symbolize_test: its creation site must read `main (leaky.c:LINE)`, LINE the line
 * marked below, named from the file's DWARF and .symtab (dladdr knows no symbol here).
 *   leaky /NAME [rename]
 * With `rename` it first rewrites its argv[0] in place, as PostgreSQL's processes do
 * (`postgres: autovacuum launcher`): the module must still be named from the file. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  if (argc > 2 && strcmp(argv[2], "rename") == 0) {
    size_t room = strlen(argv[0]);
    memset(argv[0], 0, room);
    strncpy(argv[0], "leaky: worker", room);
  }
  int fd = shm_open(argv[1], O_CREAT | O_EXCL | O_RDWR, 0600); /* the creation site */
  if (fd < 0) {
    perror("leaky: shm_open");
    return 3;
  }
  close(fd);
  return 0;
}
