// PNG writer for binary masks (8-bit grey, values 0 and 255), encoded as runs.
//
// A mask is mostly long runs of one byte, so the deflate stream is written
// directly as literal + distance-1 matches: a run of L bytes of v costs one
// literal (unless the previous byte is v already) and ceil(L/258) matches.
// The block uses a fixed "dynamic" Huffman table made for this alphabet
// (literal 0 and 255, length codes, one distance code): a maximal match
// costs 2 bits, so the rows above and below a mask cost almost nothing and
// are never visited pixel by pixel. The Adler-32 of a run has a closed form,
// so no byte of the uncompressed image is ever materialised.
//
// Every scanline uses filter type 0 (None): the filtered stream is then the
// image itself with a 0 before each row, and zero runs flow across rows.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace samed2d {
namespace png {

inline std::uint32_t crc32(const unsigned char* data, std::size_t n, std::uint32_t crc = 0) {
    static const std::array<std::uint32_t, 256> table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    crc = ~crc;
    for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

// Deflate bits go out least significant bit first.
class BitWriter {
public:
    explicit BitWriter(std::string& out) : out_(out) {}
    void put(std::uint32_t bits, int count) {
        acc_ |= static_cast<std::uint64_t>(bits) << n_;
        n_ += count;
        while (n_ >= 8) {
            out_.push_back(static_cast<char>(acc_ & 0xff));
            acc_ >>= 8;
            n_ -= 8;
        }
    }
    void flush() {
        if (n_ > 0) out_.push_back(static_cast<char>(acc_ & 0xff));
        acc_ = 0;
        n_ = 0;
    }

private:
    std::string& out_;
    std::uint64_t acc_ = 0;
    int n_ = 0;
};

struct Code {
    std::uint16_t bits = 0;  // already bit-reversed, ready for BitWriter::put
    std::uint8_t length = 0;
};

// Canonical Huffman codes for code lengths (RFC 1951, 3.2.2).
inline std::vector<Code> canonical_codes(const std::vector<std::uint8_t>& lengths) {
    std::uint16_t count[16] = {0}, next[16] = {0};
    for (auto l : lengths) count[l]++;
    count[0] = 0;
    std::uint16_t code = 0;
    for (int bits = 1; bits < 16; ++bits) {
        code = static_cast<std::uint16_t>((code + count[bits - 1]) << 1);
        next[bits] = code;
    }
    std::vector<Code> out(lengths.size());
    for (std::size_t s = 0; s < lengths.size(); ++s) {
        const int len = lengths[s];
        if (len == 0) continue;
        std::uint16_t c = next[len]++, reversed = 0;
        for (int k = 0; k < len; ++k) reversed = static_cast<std::uint16_t>((reversed << 1) | ((c >> k) & 1));
        out[s] = Code{reversed, static_cast<std::uint8_t>(len)};
    }
    return out;
}

// The block header and codes of the mask alphabet, built once.
struct MaskTable {
    std::vector<Code> lit;    // 286 literal/length symbols
    Code dist;                // the one distance code (distance 1)
    std::vector<std::pair<std::uint32_t, int>> header;  // bits of the block header, in order
    std::uint16_t len_symbol[259];
    std::uint8_t len_extra_bits[259];
    std::uint16_t len_extra[259];

    MaskTable() {
        // Kraft sum: 1/2 + 2/8 + 3/64 + 26/128 = 1, a complete code as inflate requires.
        std::vector<std::uint8_t> lengths(286, 0);
        lengths[0] = 3;
        lengths[255] = 3;
        lengths[285] = 1;  // a match of 258
        lengths[256] = 7;  // end of block
        for (int s = 257; s <= 259; ++s) lengths[s] = 6;
        for (int s = 260; s <= 284; ++s) lengths[s] = 7;
        lit = canonical_codes(lengths);
        dist = Code{0, 1};  // a single distance code is written with one bit

        // Length symbols 257..285 for match lengths 3..258.
        static const std::uint16_t base[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27,
                                               31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
        static const std::uint8_t extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                               2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
        for (int s = 0; s < 29; ++s) {
            const int top = s == 28 ? 258 : base[s] + (1 << extra[s]) - 1;
            for (int len = base[s]; len <= top && len <= 258; ++len) {
                len_symbol[len] = static_cast<std::uint16_t>(257 + s);
                len_extra_bits[len] = extra[s];
                len_extra[len] = static_cast<std::uint16_t>(len - base[s]);
            }
        }
        build_header(lengths);
    }

private:
    // Code lengths of the 286 literal/length codes and the 1 distance code,
    // run-length coded with symbols 16/17/18, then a code for those symbols.
    void build_header(const std::vector<std::uint8_t>& lit_lengths) {
        std::vector<std::uint8_t> all(lit_lengths);
        all.push_back(1);  // the distance code's length
        struct Sym { int sym, extra_bits, extra; };
        std::vector<Sym> rle;
        for (std::size_t i = 0; i < all.size();) {
            std::size_t run = 1;
            while (i + run < all.size() && all[i + run] == all[i]) ++run;
            if (all[i] == 0 && run >= 3) {
                const int n = static_cast<int>(std::min<std::size_t>(run, 138));
                rle.push_back(n >= 11 ? Sym{18, 7, n - 11} : Sym{17, 3, n - 3});
                i += n;
            } else if (all[i] != 0 && run >= 4) {
                rle.push_back(Sym{all[i], 0, 0});
                const int n = static_cast<int>(std::min<std::size_t>(run - 1, 6));
                rle.push_back(Sym{16, 2, n - 3});
                i += 1 + n;
            } else {
                rle.push_back(Sym{all[i], 0, 0});
                i += 1;
            }
        }
        // The code-length code: the used symbols get `bits` or `bits - 1` bits so that
        // the code is complete: each symbol shortened by one bit takes two of the 2^bits leaves.
        std::vector<std::uint8_t> cl_lengths(19, 0);
        std::vector<int> used;
        for (const Sym& s : rle) {
            if (std::find(used.begin(), used.end(), s.sym) == used.end()) used.push_back(s.sym);
        }
        std::sort(used.begin(), used.end());
        int bits = 2;
        while ((1u << bits) < used.size()) ++bits;
        const std::size_t shortened = (1u << bits) - used.size();
        for (std::size_t k = 0; k < used.size(); ++k) {
            cl_lengths[used[k]] = static_cast<std::uint8_t>(k < shortened ? bits - 1 : bits);
        }
        const std::vector<Code> cl = canonical_codes(cl_lengths);
        static const int order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
        int hclen = 19;
        while (hclen > 4 && cl_lengths[order[hclen - 1]] == 0) --hclen;

        header.push_back({1, 1});                              // BFINAL
        header.push_back({2, 2});                              // BTYPE = dynamic Huffman
        header.push_back({286 - 257, 5});                      // HLIT
        header.push_back({0, 5});                              // HDIST: one distance code
        header.push_back({static_cast<std::uint32_t>(hclen - 4), 4});
        for (int k = 0; k < hclen; ++k) header.push_back({cl_lengths[order[k]], 3});
        for (const Sym& s : rle) {
            header.push_back({cl[s.sym].bits, cl[s.sym].length});
            if (s.extra_bits) header.push_back({static_cast<std::uint32_t>(s.extra), s.extra_bits});
        }
    }
};

inline const MaskTable& mask_table() {
    static const MaskTable table;
    return table;
}

// Writes runs of 0/255 bytes as a zlib stream (header, one deflate block, Adler-32).
class MaskDeflater {
public:
    explicit MaskDeflater(std::string& out) : out_(out), bits_(out), t_(mask_table()) {
        out_.push_back(static_cast<char>(0x78));
        out_.push_back(static_cast<char>(0x01));
        for (const auto& h : t_.header) bits_.put(h.first, h.second);
    }

    // Appends `n` bytes of `value`; neighbouring calls with one value merge.
    void push(std::uint8_t value, std::uint64_t n) {
        if (n == 0) return;
        if (value == run_value_) {
            run_length_ += n;
            return;
        }
        emit();
        run_value_ = value;
        run_length_ = n;
    }

    void finish() {
        emit();
        bits_.put(t_.lit[256].bits, t_.lit[256].length);
        bits_.flush();
        const std::uint32_t adler = (b_ << 16) | a_;
        for (int shift = 24; shift >= 0; shift -= 8) out_.push_back(static_cast<char>((adler >> shift) & 0xff));
    }

private:
    static constexpr std::uint64_t kMod = 65521;

    void literal(std::uint8_t v) { bits_.put(t_.lit[v].bits, t_.lit[v].length); }

    void match(int len) {
        const Code& c = t_.lit[t_.len_symbol[len]];
        bits_.put(c.bits, c.length);
        if (t_.len_extra_bits[len]) bits_.put(t_.len_extra[len], t_.len_extra_bits[len]);
        bits_.put(t_.dist.bits, t_.dist.length);
    }

    void emit() {
        std::uint64_t n = run_length_;
        if (n == 0) return;
        const std::uint8_t v = run_value_;
        // Adler-32 of n copies of v: a += n*v; b += n*a_old + v*n(n+1)/2.
        const std::uint64_t tri = (n % 2 == 0) ? ((n / 2) % kMod) * ((n + 1) % kMod) % kMod
                                               : (n % kMod) * (((n + 1) / 2) % kMod) % kMod;
        b_ = static_cast<std::uint32_t>((b_ + (n % kMod) * a_ % kMod + v * tri % kMod) % kMod);
        a_ = static_cast<std::uint32_t>((a_ + (n % kMod) * v % kMod) % kMod);
        if (last_ != static_cast<int>(v)) {
            literal(v);
            --n;
            last_ = v;
        }
        while (n >= 3) {
            std::uint64_t m = n;
            if (m > 258) m = (n - 258 < 3) ? n - 3 : 258;
            match(static_cast<int>(m));
            n -= m;
        }
        while (n-- > 0) literal(v);
        run_length_ = 0;
    }

    std::string& out_;
    BitWriter bits_;
    const MaskTable& t_;
    std::uint8_t run_value_ = 0;
    std::uint64_t run_length_ = 0;
    int last_ = -1;  // the last byte written to the stream, -1 before the first
    std::uint32_t a_ = 1, b_ = 0;
};

inline void put_u32(std::string& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

inline void put_chunk(std::string& out, const char* type, const std::string& data) {
    put_u32(out, static_cast<std::uint32_t>(data.size()));
    const std::size_t start = out.size();
    out.append(type, 4);
    out.append(data);
    put_u32(out, crc32(reinterpret_cast<const unsigned char*>(out.data() + start), out.size() - start));
}

// A complete 8-bit grey PNG whose rows come from `row_runs(r, deflater)`, which
// pushes exactly `width` bytes of 0/255 for row r.
template <class RowRuns>
std::string encode_binary_png(std::int64_t height, std::int64_t width, RowRuns&& row_runs) {
    if (height <= 0 || width <= 0 || height > 0x7fffffff || width > 0x7fffffff) {
        throw std::invalid_argument("PNG size must be positive and below 2^31");
    }
    std::string out("\x89PNG\r\n\x1a\n", 8);
    std::string ihdr;
    put_u32(ihdr, static_cast<std::uint32_t>(width));
    put_u32(ihdr, static_cast<std::uint32_t>(height));
    ihdr.append("\x08\x00\x00\x00\x00", 5);  // 8 bits, grey, deflate, filter set 0, no interlace
    put_chunk(out, "IHDR", ihdr);
    std::string idat;
    MaskDeflater deflater(idat);
    for (std::int64_t r = 0; r < height; ++r) {
        deflater.push(0, 1);  // filter type None
        row_runs(r, deflater);
    }
    deflater.finish();
    put_chunk(out, "IDAT", idat);
    put_chunk(out, "IEND", std::string());
    return out;
}

}  // namespace png
}  // namespace samed2d
