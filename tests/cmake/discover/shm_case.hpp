// What both programs' leaking case does: create a POSIX shm segment and never unlink it.
#pragma once
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

inline bool leak_shm_segment() {
  const std::string name = "/al-discover-" + std::to_string(getpid());
  const int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) return false;
  close(fd);
  return true;
}
