#include "formats/pending_file.h"

#include <random>

#include "core/error.h"
#include "formats/file_identity.h"
#include "formats/os_files.h"

namespace svdq {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxNameBytes = 255;

// Whether the process that made a temporary named ".svdq-PID-..." is gone.
// Only a definite "no such process" counts.
bool abandoned(const std::string& name) {
    const std::string prefix = kTemporaryPrefix;
    if (name.compare(0, prefix.size(), prefix) != 0) return false;
    const size_t end = name.find('-', prefix.size());
    if (end == std::string::npos || end == prefix.size()) return false;
    long pid = 0;
    for (size_t i = prefix.size(); i < end; ++i) {
        if (name[i] < '0' || name[i] > '9' || pid > 1'000'000'000) return false;
        pid = pid * 10 + (name[i] - '0');
    }
    return process_is_gone(pid);
}

void remove_abandoned_temporaries(const fs::path& folder) {
    std::error_code error;
    for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
        const std::string name = it->path().filename().u8string();
        std::error_code ignored;
        if (abandoned(name) && it->is_regular_file(ignored)) fs::remove(it->path(), ignored);
    }
}

void check_target(const std::string& target) {
    std::error_code error;
    const fs::file_status status = fs::symlink_status(fs::u8path(target), error);
    if (!error && fs::exists(status)) {
        require(!fs::is_symlink(status), SVDQ_ERROR_IO,
                target + ": is a symbolic link; name the file it points to, or remove the link, to write there");
        require(fs::is_regular_file(status), SVDQ_ERROR_IO,
                target + ": is not a regular file (a directory, device or pipe); refusing to replace it");
    }
    const std::string input = open_input_named_by(target);
    require(input.empty(), SVDQ_ERROR_IO,
            target + ": is the input " + input + " of this run; write the output to another file");
}

// ".svdq-PID-RANDOM-name.kind" beside the target, the name cut to fit.
fs::path temporary_name(const fs::path& target, const char* kind) {
    static thread_local std::mt19937_64 rng(std::random_device{}() ^ static_cast<uint64_t>(current_process_id()));
    const std::string head = kTemporaryPrefix + std::to_string(current_process_id()) + "-" + std::to_string(rng() % 1'000'000'000'000ull) + "-";
    const std::string tail = std::string(".") + kind;
    std::string name = target.filename().u8string();
    name.resize(std::min(name.size(), kMaxNameBytes - head.size() - tail.size()));
    return target.parent_path() / fs::u8path(head + name + tail);
}

}  // namespace

PendingFile::PendingFile(const std::string& target, const char* kind) : target_(target) {
    check_target(target);
    const fs::path path = fs::u8path(target);
    const fs::path folder = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    std::error_code error;
    require(fs::is_directory(folder, error), SVDQ_ERROR_IO, target_ + ": the folder " + folder.u8string() + " does not exist");
    remove_abandoned_temporaries(folder);
    temporary_ = temporary_name(path, kind);
    require(!fs::exists(temporary_), SVDQ_ERROR_IO, target_ + ": the temporary " + temporary_.u8string() + " exists already");
    out_.open(temporary_, std::ios::binary | std::ios::trunc);
    require(out_.good(), SVDQ_ERROR_IO, target_ + ": cannot create " + temporary_.u8string());
}

PendingFile::~PendingFile() {
    if (committed_) return;
    out_.close();
    std::error_code ignored;
    fs::remove(temporary_, ignored);
}

void PendingFile::write(const void* data, uint64_t size) {
    out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    require(out_.good(), SVDQ_ERROR_IO, target_ + ": writing " + temporary_.u8string() + " failed (disk full?)");
}

void PendingFile::close() {
    if (out_.is_open()) out_.close();  // flushes: a full disk may only show here
    require(!out_.fail(), SVDQ_ERROR_IO, target_ + ": writing " + temporary_.u8string() + " failed (disk full?)");
}

void PendingFile::commit() {
    close();
    check_target(target_);  // again: the target may have changed while the file was written
    const fs::path target = fs::u8path(target_);
    std::error_code error;
    if (fs::exists(target, error)) fs::permissions(temporary_, fs::status(target).permissions(), error);
    require(!error, SVDQ_ERROR_IO, target_ + ": cannot give the new file the permissions of the old (" + error.message() + ")");
    const std::string refusal = replace_file(temporary_, target);
    require(refusal.empty(), SVDQ_ERROR_IO, target_ + ": cannot move the written file into place (" + refusal + ")");
    committed_ = true;
}

}  // namespace svdq
