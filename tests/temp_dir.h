// A fresh folder per test under the system temp dir, for the files a test writes: named after
// `tag`, the running test and the process (so parallel ctest runs never share one), emptied
// first, removed afterwards.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace flame_test {

class TempDir {
 public:
  explicit TempDir(const std::string& tag = "tmp") {
    std::string name = "flame_" + tag;
    if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info())
      name += std::string("_") + info->test_suite_name() + "_" + info->name();
    path_ = std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  // The path of `rel` inside the folder.
  std::string file(const std::string& rel) const { return (path_ / rel).string(); }
  // Writes `text` to `rel` (parent folders created; a name ending in .gz is gzip-compressed) and
  // returns its path.
  std::string write(const std::string& rel, const std::string& text) const {
    const std::filesystem::path p = path_ / rel;
    std::filesystem::create_directories(p.parent_path());
    if (p.extension() == ".gz") {
      gzFile f = gzopen(p.c_str(), "wb");
      EXPECT_NE(f, nullptr) << p;
      if (f) {
        EXPECT_EQ(gzwrite(f, text.data(), unsigned(text.size())), int(text.size())) << p;
        gzclose(f);
      }
    } else {
      std::ofstream(p, std::ios::binary) << text;
    }
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

}  // namespace flame_test
