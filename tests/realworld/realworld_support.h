// Other projects' payloads, collected in ${RS_SOURCE_DIR}/../shared/real-world (read-only; see its
// README.md): where they are, and their manifests as rows of named columns.
#pragma once

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace rs::realworld {

inline std::string root() { return std::string(RS_SOURCE_DIR) + "/../shared/real-world"; }

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline bool exists(const std::string& path) { return std::ifstream(path).good(); }

// Files in `dir` whose name ends in `suffix`, sorted.
inline std::vector<std::string> files(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        out.push_back(name);
      }
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

using Row = std::map<std::string, std::string>;

// A tab-separated manifest with a header line (no quoting in these files).
inline std::vector<Row> read_tsv(const std::string& path) {
  std::istringstream in(slurp(path));
  std::string line;
  std::vector<std::string> header;
  std::vector<Row> rows;
  auto split = [](const std::string& l) {
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream s(l);
    while (std::getline(s, cell, '\t')) cells.push_back(cell);
    if (!l.empty() && l.back() == '\t') cells.emplace_back();
    return cells;
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto cells = split(line);
    if (header.empty()) {
      header = cells;
      continue;
    }
    Row row;
    for (std::size_t i = 0; i < header.size(); ++i) row[header[i]] = i < cells.size() ? cells[i] : "";
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace rs::realworld
