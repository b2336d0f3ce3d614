// SPDX-License-Identifier: Apache-2.0
// The progress renderer of compose up/down: plain lines, JSON lines, and the
// tty block redrawn in place, read back through a small fake terminal.
#include <catch2/catch.hpp>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

// cli/ is an executable, not a library: its one source under test is built
// into this test binary.
#include "cli/progress.cpp"

using berth::cli::AnsiMode;
using berth::cli::ProgressMode;
using berth::cli::ProgressPrinter;
using berth::cli::ProgressStyle;

namespace {

/// A fake clock the test moves by hand.
struct FakeClock {
    ProgressPrinter::Clock::time_point now{};
    void advance(std::chrono::milliseconds d) { now += d; }
};

/// A printer whose output is appended to `out`.
ProgressPrinter make_printer(ProgressMode mode, bool color, std::string& out, FakeClock& clock,
                             bool dry_run = false) {
    ProgressStyle style;
    style.mode = mode;
    style.color = color;
    return ProgressPrinter(
        style, [&out](std::string_view text) { out += text; }, [&clock] { return clock.now; },
        dry_run);
}

/// Just enough of a VT100 for the sequences the printer writes: text, "\n",
/// "\r", CSI n A (cursor up), CSI 2K (erase line), CSI J (erase below) and
/// CSI ?25l / ?25h (cursor visibility). Anything else fails the test.
class FakeTerminal {
public:
    void feed(std::string_view data) {
        for (size_t i = 0; i < data.size(); ++i) {
            char c = data[i];
            if (c == '\x1b') {
                REQUIRE(i + 1 < data.size());
                REQUIRE(data[i + 1] == '[');
                size_t j = i + 2;
                std::string params;
                while (j < data.size() && (std::isdigit(static_cast<unsigned char>(data[j])) ||
                                           data[j] == '?')) {
                    params += data[j++];
                }
                REQUIRE(j < data.size());
                csi(params, data[j]);
                i = j;
                continue;
            }
            if (c == '\n') {
                ++row_;
                col_ = 0;
                continue;
            }
            if (c == '\r') {
                col_ = 0;
                continue;
            }
            auto& line = line_at(row_);
            if (line.size() < col_) {
                line.resize(col_, ' ');
            }
            line.replace(col_, 1, 1, c);
            ++col_;
        }
    }

    /// The screen, one string per row, trailing empty rows dropped.
    [[nodiscard]] std::vector<std::string> screen() const {
        auto rows = rows_;
        while (!rows.empty() && rows.back().empty()) {
            rows.pop_back();
        }
        return rows;
    }
    [[nodiscard]] bool cursor_visible() const { return cursor_visible_; }
    [[nodiscard]] size_t row() const { return row_; }

private:
    std::string& line_at(size_t r) {
        if (rows_.size() <= r) {
            rows_.resize(r + 1);
        }
        return rows_[r];
    }
    void csi(const std::string& params, char final) {
        if (final == 'A') {
            size_t n = params.empty() ? 1 : std::stoul(params);
            REQUIRE(n <= row_);
            row_ -= n;
        } else if (final == 'K') {
            REQUIRE(params == "2");
            line_at(row_).clear();
        } else if (final == 'J') {
            REQUIRE(params.empty());
            line_at(row_).erase(std::min(col_, line_at(row_).size()));
            rows_.resize(std::min(rows_.size(), row_ + 1));
        } else if (final == 'l' || final == 'h') {
            REQUIRE(params == "?25");
            cursor_visible_ = final == 'h';
        } else if (final == 'm') {
            // colours: no effect on the text
        } else {
            FAIL("unexpected control sequence " << params << final);
        }
    }

    std::vector<std::string> rows_;
    size_t row_ = 0;
    size_t col_ = 0;
    bool cursor_visible_ = true;
};

std::vector<nlohmann::json> json_lines(const std::string& text) {
    std::vector<nlohmann::json> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        out.push_back(nlohmann::json::parse(line));
    }
    return out;
}

}  // namespace

TEST_CASE("progress and ansi flags parse and resolve as Compose's", "[cli][progress]") {
    CHECK(*berth::cli::parse_progress_mode("auto") == ProgressMode::automatic);
    CHECK(*berth::cli::parse_progress_mode("json") == ProgressMode::json);
    CHECK(*berth::cli::parse_ansi_mode("never") == AnsiMode::never);
    auto bad = berth::cli::parse_progress_mode("fancy");
    REQUIRE(!bad);
    CHECK(bad.error().code() == berth::Errc::invalid_argument);
    CHECK(bad.error().message().find("\"fancy\"") != std::string::npos);
    CHECK(!berth::cli::parse_ansi_mode("sometimes"));

    using berth::cli::resolve_progress_style;
    // auto: tty on a terminal, plain in a pipe or on a dumb terminal.
    CHECK(resolve_progress_style(ProgressMode::automatic, AnsiMode::automatic, true, "xterm",
                                 false)
              .mode == ProgressMode::tty);
    CHECK(resolve_progress_style(ProgressMode::automatic, AnsiMode::automatic, false, "xterm",
                                 false)
              .mode == ProgressMode::plain);
    CHECK(resolve_progress_style(ProgressMode::automatic, AnsiMode::automatic, true, "dumb",
                                 false)
              .mode == ProgressMode::plain);
    // --ansi always forces the tty view, --ansi never forbids it.
    CHECK(resolve_progress_style(ProgressMode::automatic, AnsiMode::always, false, "", false)
              .mode == ProgressMode::tty);
    CHECK(resolve_progress_style(ProgressMode::tty, AnsiMode::never, true, "xterm", false).mode ==
          ProgressMode::plain);
    CHECK(resolve_progress_style(ProgressMode::json, AnsiMode::always, true, "xterm", false)
              .mode == ProgressMode::json);
    // Colours: on a terminal unless NO_COLOR, always with --ansi always.
    CHECK(resolve_progress_style(ProgressMode::automatic, AnsiMode::automatic, true, "xterm",
                                 false)
              .color);
    CHECK_FALSE(resolve_progress_style(ProgressMode::automatic, AnsiMode::automatic, true,
                                       "xterm", true)
                    .color);
    CHECK(resolve_progress_style(ProgressMode::tty, AnsiMode::always, false, "", true).color);
    CHECK_FALSE(
        resolve_progress_style(ProgressMode::plain, AnsiMode::always, true, "xterm", false).color);
}

TEST_CASE("plain progress prints one line per event", "[cli][progress]") {
    std::string out;
    FakeClock clock;
    {
        auto p = make_printer(ProgressMode::plain, false, out, clock);
        p.event("Network", "demo_default", "Creating");
        p.event("Network", "demo_default", "Created");
        p.callback()("Container", "demo-web-1", "Started");
        p.warning("something odd");
        p.tick();
        p.finish();
    }
    CHECK(out ==
          " Network demo_default  Creating\n"
          " Network demo_default  Created\n"
          " Container demo-web-1  Started\n"
          "WARN[0000] something odd\n");
}

TEST_CASE("plain progress of a dry run marks every line", "[cli][progress]") {
    std::string out;
    FakeClock clock;
    auto p = make_printer(ProgressMode::plain, false, out, clock, true);
    p.event("Container", "demo-web-1", "Create (missing)");
    CHECK(out == " DRY-RUN MODE -  Container demo-web-1  Create (missing)\n");
}

TEST_CASE("quiet progress prints only warnings", "[cli][progress]") {
    std::string out;
    FakeClock clock;
    auto p = make_printer(ProgressMode::quiet, false, out, clock);
    p.event("Container", "demo-web-1", "Starting");
    p.event("Container", "demo-web-1", "Started");
    p.finish();
    CHECK(out.empty());
    p.warning("careful");
    CHECK(out == "WARN[0000] careful\n");
}

TEST_CASE("json progress prints one object per event line", "[cli][progress]") {
    std::string out;
    FakeClock clock;
    auto p = make_printer(ProgressMode::json, false, out, clock);
    p.event("Container", "demo-web-1", "Starting");
    clock.advance(std::chrono::milliseconds(1500));
    p.event("Container", "demo-web-1", "Started");
    p.event("Container", "demo-db-1", "Error response");
    p.warning("careful \"quoted\"");
    auto lines = json_lines(out);
    REQUIRE(lines.size() == 4);
    CHECK(lines[0] == nlohmann::json{{"id", "Container demo-web-1"},
                                     {"kind", "Container"},
                                     {"name", "demo-web-1"},
                                     {"status", "Starting"},
                                     {"state", "working"},
                                     {"elapsed", 0.0}});
    CHECK(lines[1]["status"] == "Started");
    CHECK(lines[1]["state"] == "done");
    CHECK(lines[1]["elapsed"].get<double>() == Approx(1.5));
    CHECK(lines[2]["state"] == "error");
    CHECK_FALSE(lines[2].contains("dry_run"));
    CHECK(lines[3] == nlohmann::json{{"level", "warning"}, {"message", "careful \"quoted\""}});

    std::string dry;
    auto d = make_printer(ProgressMode::json, false, dry, clock, true);
    d.event("Network", "demo_default", "Create");
    CHECK(json_lines(dry).at(0)["dry_run"] == true);
}

TEST_CASE("tty progress redraws one line per resource in place", "[cli][progress]") {
    std::string out;
    FakeClock clock;
    FakeTerminal term;
    auto p = make_printer(ProgressMode::tty, false, out, clock);
    auto flush = [&] {
        term.feed(out);
        out.clear();
    };

    p.event("Network", "demo_default", "Creating");
    flush();
    CHECK_FALSE(term.cursor_visible());
    CHECK(term.screen() == std::vector<std::string>{
                               "[+] Running 0/1",
                               " ⠋ Network demo_default  Creating   0.0s",
                           });

    clock.advance(std::chrono::milliseconds(200));
    p.event("Network", "demo_default", "Created");
    p.event("Container", "demo-web-1", "Creating");
    flush();
    CHECK(term.screen() == std::vector<std::string>{
                               "[+] Running 1/2",
                               " ✔ Network demo_default  Created    0.2s",
                               " ⠋ Container demo-web-1  Creating   0.0s",
                           });

    // The spinner turns and the clock runs while a line is working; a done
    // line keeps its time.
    clock.advance(std::chrono::milliseconds(300));
    p.tick();
    p.event("Container", "demo-web-1", "Starting");
    flush();
    CHECK(term.screen() == std::vector<std::string>{
                               "[+] Running 1/2",
                               " ✔ Network demo_default  Created    0.2s",
                               " ⠙ Container demo-web-1  Starting   0.3s",
                           });

    // A warning goes above the block, which is drawn again below it.
    p.warning("orphans found");
    flush();
    CHECK(term.screen() == std::vector<std::string>{
                               "WARN[0000] orphans found",
                               "[+] Running 1/2",
                               " ✔ Network demo_default  Created    0.2s",
                               " ⠙ Container demo-web-1  Starting   0.3s",
                           });

    clock.advance(std::chrono::milliseconds(1000));
    p.event("Container", "demo-web-1", "Started");
    p.finish();
    flush();
    CHECK(term.screen() == std::vector<std::string>{
                               "WARN[0000] orphans found",
                               "[+] Running 2/2",
                               " ✔ Network demo_default  Created   0.2s",
                               " ✔ Container demo-web-1  Started   1.3s",
                           });
    CHECK(term.cursor_visible());
    CHECK(term.row() == 4);  // the cursor is below the block
    // Nothing more after finish().
    p.tick();
    p.finish();
    CHECK(out.empty());
}

TEST_CASE("tty progress in colour marks done lines green and errors red", "[cli][progress]") {
    std::string out;
    FakeClock clock;
    auto p = make_printer(ProgressMode::tty, true, out, clock);
    p.event("Container", "demo-web-1", "Started");
    p.event("Container", "demo-db-1", "Error while starting");
    CHECK(out.find("\x1b[32m✔\x1b[0m Container demo-web-1") != std::string::npos);
    CHECK(out.find("\x1b[31m✘\x1b[0m Container demo-db-1") != std::string::npos);
    CHECK(out.find("\x1b[31mError while starting\x1b[0m") != std::string::npos);
}

TEST_CASE("tty progress fits a short terminal: working lines, then the latest done",
          "[cli][progress]") {
    std::string out;
    FakeClock clock;
    FakeTerminal term;
    ProgressStyle style;
    style.mode = ProgressMode::tty;
    style.rows = 5;  // the header and three lines, and the cursor's row
    ProgressPrinter p(
        style, [&out](std::string_view text) { out += text; }, [&clock] { return clock.now; });
    p.event("Container", "a", "Starting");
    for (const auto* name : {"b", "c", "d", "e"}) {
        p.event("Container", name, "Started");
    }
    p.finish();
    term.feed(out);
    CHECK(term.screen() == std::vector<std::string>{
                               "[+] Running 4/5",
                               " ⠋ Container a  Starting   0.0s",
                               " ✔ Container d  Started    0.0s",
                               " ✔ Container e  Started    0.0s",
                           });
}
