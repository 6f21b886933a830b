#include "BundleArchive.h"
#include "BundleSchema.h"
#include "VAEModelBundle.h"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <zip.h>

#include <memory>
#include <set>
#include <stdexcept>

namespace VAEPlugin {

namespace {

zip_t* zipOf(void* p) { return static_cast<zip_t*>(p); }

std::string zipMessage(zip_error_t* error) {
    std::string message = zip_error_strerror(error);
    zip_error_fini(error);
    return message;
}

/** The top folder of a TorchScript archive: everything before the first '/' of its first member. */
std::string topFolder(const std::vector<std::string>& names) {
    if (names.empty()) return "";
    const size_t slash = names[0].find('/');
    return slash == std::string::npos ? "" : names[0].substr(0, slash + 1);
}

} // namespace

BundleArchive::BundleArchive(const std::string& bytes, const std::string& source) : source_(source), bytes_(bytes) {
    zip_error_t error;
    zip_error_init(&error);
    zip_source_t* buffer = zip_source_buffer_create(bytes_.data(), bytes_.size(), 0, &error);
    if (buffer == nullptr)
        throw BundleError("VAE model from " + source_ + " cannot be read: " + zipMessage(&error));
    archive_ = zip_open_from_source(buffer, ZIP_RDONLY | ZIP_CHECKCONS, &error);
    if (archive_ == nullptr) {
        zip_source_free(buffer);
        throw BundleError("VAE model from " + source_ + " is not a valid TorchScript archive (not a readable zip file; damaged or truncated?): " +
                          zipMessage(&error));
    }
    zip_error_fini(&error);
    const zip_int64_t n = zip_get_num_entries(zipOf(archive_), 0);
    for (zip_int64_t i = 0; i < n; i++) {
        const char* name = zip_get_name(zipOf(archive_), i, ZIP_FL_ENC_RAW);
        if (name == nullptr)
            throw BundleError("VAE model from " + source_ + ": member " + std::to_string(i) + " of its archive has no readable name");
        if (!index_.emplace(name, i).second)
            throw BundleError("VAE model from " + source_ + ": its archive holds the member '" + std::string(name) + "' twice");
        names_.push_back(name);
    }
    prefix_ = topFolder(names_);
}

BundleArchive::~BundleArchive() {
    if (archive_ != nullptr) zip_discard(zipOf(archive_));
}

bool BundleArchive::has(const std::string& name) const { return index_.count(prefix_ + name) > 0; }

std::string BundleArchive::integrityName() const { return std::string("extra/") + BundleSchema::kIntegrityFile; }

std::string BundleArchive::read(const std::string& name) const {
    auto it = index_.find(prefix_ + name);
    if (it == index_.end()) throw BundleError("VAE model from " + source_ + " has no member '" + name + "'");
    zip_stat_t stat;
    zip_stat_init(&stat);
    if (zip_stat_index(zipOf(archive_), it->second, 0, &stat) != 0 || !(stat.valid & ZIP_STAT_SIZE) || stat.size > (1ull << 34))
        throw BundleError("VAE model from " + source_ + ": the member '" + name + "' has no valid size");
    std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> file(zip_fopen_index(zipOf(archive_), it->second, 0), zip_fclose);
    if (!file) throw BundleError("VAE model from " + source_ + ": the member '" + name + "' cannot be opened: " +
                                 zip_strerror(zipOf(archive_)));
    std::string content(stat.size, '\0');
    zip_int64_t got = content.empty() ? 0 : zip_fread(file.get(), &content[0], content.size());
    // one more read reaches the end, where libzip compares the CRC
    char extra;
    if (got != static_cast<zip_int64_t>(content.size()) || zip_fread(file.get(), &extra, 1) != 0)
        throw BundleError("VAE model from " + source_ + ": the member '" + name + "' is damaged (" +
                          zip_error_strerror(zip_file_get_error(file.get())) + ")");
    return content;
}

std::string BundleArchive::sha256(const std::string& bytes) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("SHA-256 failed");
    static const char* hex = "0123456789abcdef";
    std::string text;
    for (unsigned int i = 0; i < length; i++) {
        text += hex[digest[i] >> 4];
        text += hex[digest[i] & 15];
    }
    return text;
}

std::string BundleArchive::integrityRecord() const {
    nlohmann::json members = nlohmann::json::object();
    const std::string own = prefix_ + integrityName();
    for (const std::string& name : names_)
        if (name != own) members[name.substr(prefix_.size())] = sha256(read(name.substr(prefix_.size())));
    return nlohmann::json{{"algorithm", "sha256"}, {"members", members}}.dump(1);
}

void BundleArchive::verifyIntegrity() const {
    if (!hasIntegrityRecord()) return;
    nlohmann::json record;
    try {
        record = nlohmann::json::parse(read(integrityName()));
    } catch (const nlohmann::json::exception&) {
        throw BundleError("VAE model from " + source_ + ": its integrity record is damaged (not valid JSON)");
    }
    if (!record.is_object() || record.value("algorithm", "") != "sha256" || !record.contains("members") || !record["members"].is_object())
        throw BundleError("VAE model from " + source_ + ": its integrity record is damaged (no sha256 member list)");
    const nlohmann::json& members = record["members"];
    std::set<std::string> listed;
    for (const auto& [name, digest] : members.items()) {
        listed.insert(name);
        if (!has(name))
            throw BundleError("VAE model from " + source_ + " fails its integrity check: the member '" + name + "' is missing");
        if (!digest.is_string() || digest.get<std::string>() != sha256(read(name)))
            throw BundleError("VAE model from " + source_ + " fails its integrity check: the member '" + name +
                              "' differs from what was written (a damaged or modified file)");
    }
    for (const std::string& name : names_) {
        const std::string relative = name.substr(prefix_.size());
        if (relative != integrityName() && !listed.count(relative))
            throw BundleError("VAE model from " + source_ + " fails its integrity check: the member '" + relative +
                              "' was not written with it");
    }
}

void BundleArchive::addIntegrityRecord(const std::string& path) {
    std::string record, name;
    {
        FILE* f = std::fopen(path.c_str(), "rb");
        if (f == nullptr) throw std::runtime_error("cannot read the model bundle " + path);
        std::string bytes;
        char chunk[1 << 16];
        size_t n;
        while ((n = std::fread(chunk, 1, sizeof(chunk), f)) > 0) bytes.append(chunk, n);
        std::fclose(f);
        BundleArchive archive(bytes, "'" + path + "'");
        record = archive.integrityRecord();
        name = archive.prefix() + archive.integrityName();
    }
    int code = 0;
    zip_t* zip = zip_open(path.c_str(), 0, &code);
    if (zip == nullptr) throw std::runtime_error("cannot open the model bundle " + path + " to add its integrity record");
    zip_source_t* source = zip_source_buffer(zip, record.data(), record.size(), 0);
    // stored, like the members TorchScript writes
    zip_int64_t index = source == nullptr ? -1 : zip_file_add(zip, name.c_str(), source, ZIP_FL_ENC_UTF_8);
    if (index < 0 || zip_set_file_compression(zip, index, ZIP_CM_STORE, 0) != 0 || zip_close(zip) != 0) {
        const std::string why = zip_strerror(zip);
        if (index < 0 && source != nullptr) zip_source_free(source);
        zip_discard(zip);
        throw std::runtime_error("cannot add the integrity record to the model bundle " + path + ": " + why);
    }
}

} // namespace VAEPlugin
