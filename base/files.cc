#include "base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <system_error>

namespace poolwatch {
namespace {

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

std::string SizeText(std::size_t bytes) {
  if (bytes >= (std::size_t{1} << 20) && bytes % (std::size_t{1} << 20) == 0) {
    return std::to_string(bytes >> 20) + " MiB";
  }
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

// Closes the descriptor on every path out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

FileReadStatus ReadBoundedFile(const std::string& path, std::size_t max_bytes, std::string& out,
                               std::string& error) {
  out.clear();
  if (path.empty()) {
    error = "cannot read file: no file name given";
    return FileReadStatus::kError;
  }
  // O_NONBLOCK: opening a FIFO (or a device that would wait for a peer) returns at once; the
  // fstat below then refuses it without a single read.
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    int err = errno;
    error = "cannot read file " + path + ": " + ErrnoText(err);
    return err == ENOENT ? FileReadStatus::kMissing : FileReadStatus::kError;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    error = "cannot read file " + path + ": " + ErrnoText(errno);
    return FileReadStatus::kError;
  }
  if (!S_ISREG(st.st_mode)) {
    error = "cannot read file " + path + ": it is " + std::string(KindOf(st.st_mode)) +
            ", not a regular file";
    return FileReadStatus::kError;
  }
  const std::string too_big = "cannot read file " + path + ": it is larger than " +
                              SizeText(max_bytes) + " (the limit for this file)";
  if (st.st_size < 0 || static_cast<std::size_t>(st.st_size) > max_bytes) {
    error = too_big;
    return FileReadStatus::kError;
  }
  // Read at most max_bytes + 1: a file that grows past the cap after fstat is refused too.
  std::string data(static_cast<std::size_t>(st.st_size) + 1, '\0');
  std::size_t got = 0;
  for (;;) {
    if (got == data.size()) {
      if (data.size() > max_bytes) {
        error = too_big;
        return FileReadStatus::kError;
      }
      data.resize(std::min(max_bytes + 1, data.size() * 2));
    }
    ssize_t n = ::read(fd.get(), data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = "cannot read file " + path + ": " + ErrnoText(errno);
      return FileReadStatus::kError;
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > max_bytes) {
    error = too_big;
    return FileReadStatus::kError;
  }
  data.resize(got);
  out = std::move(data);
  return FileReadStatus::kOk;
}

bool ReadRegularFile(const std::string& path, std::size_t max_bytes, std::string& out,
                     std::string& error) {
  return ReadBoundedFile(path, max_bytes, out, error) == FileReadStatus::kOk;
}

bool WriteAtomically(const std::string& path, const std::string& data, std::string& error) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "cannot create " + tmp + ": " + std::error_code(errno, std::generic_category()).message();
    return false;
  }
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = "cannot write " + tmp + ": " + std::error_code(errno, std::generic_category()).message();
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    error = "cannot fsync " + tmp + ": " + std::error_code(errno, std::generic_category()).message();
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
  ::close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + tmp + ": " + std::error_code(errno, std::generic_category()).message();
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

SecretFile::SecretFile(std::string path, std::string initial, std::string_view trim, Check check)
    : path_(std::move(path)), trim_(trim), check_(std::move(check)), value_(std::move(initial)) {
  std::string why;
  seen_ = Stat(why);
  seen_error_ = why;
}

SecretFile::Identity SecretFile::Stat(std::string& why) const {
  struct stat st {};
  Identity id;
  if (::stat(path_.c_str(), &st) != 0) {
    why = "cannot read file " + path_ + ": " + ErrnoText(errno);
    id.size = -2;  // never equal to a real file's identity
    return id;
  }
  why.clear();
  id.dev = static_cast<unsigned long long>(st.st_dev);
  id.ino = static_cast<unsigned long long>(st.st_ino);
  id.size = static_cast<long long>(st.st_size);
  id.mtime_ns = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  return id;
}

SecretFile::Result SecretFile::Get() {
  std::lock_guard<std::mutex> lock(mutex_);
  Result r;
  std::string why;
  const Identity now = Stat(why);
  if (now == seen_ && why == seen_error_) {
    r.value = value_;
    return r;
  }
  seen_ = now;
  seen_error_ = why;
  std::string fresh;
  std::string error = why;
  if (error.empty() && ReadRegularFile(path_, kMaxSecretFileBytes, fresh, error)) {
    while (!fresh.empty() && trim_.find(fresh.back()) != std::string::npos) fresh.pop_back();
    if (fresh.empty()) {
      error = path_ + ": the file is empty";
    } else if (check_) {
      error = check_(fresh);
      if (!error.empty()) error = path_ + ": " + error;
    }
  }
  if (!error.empty()) {
    std::fill(fresh.begin(), fresh.end(), '\0');
    errors_ += 1;
    r.event = Event::kRejected;
    r.error = error;
  } else if (fresh != value_) {
    value_ = std::move(fresh);
    reloads_ += 1;
    r.event = Event::kReloaded;
  }
  r.value = value_;
  return r;
}

double SecretFile::reloads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return reloads_;
}

double SecretFile::errors() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return errors_;
}

}  // namespace poolwatch
