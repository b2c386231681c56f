"""Your own data and files out, in Chromium: upload by picker and by drop, preview, URL state,
downloads of the metrics, the network (JSON and PyTorch) and the charts as PNG."""

from __future__ import annotations

import ast
import base64
import csv
import io
import json
import re
from pathlib import Path

import pytest

from tests.e2e.test_playground import open_playground

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.usefixtures("patient_expect")

FAST = "epochs=30&speed=1000&boundaryEvery=5"
ROWS = 120


def csv_text(rows: int = ROWS) -> str:
    """Two features; class 'in' inside the unit circle, 'out' outside (a learnable boundary)."""
    lines = ["width,height,label"]
    for index in range(rows):
        x, y = ((index * 37) % 100 - 50) / 25, ((index * 53) % 100 - 50) / 25
        lines.append(f"{x:.2f},{y:.2f},{'in' if x * x + y * y < 2.2 else 'out'}")
    return "\n".join(lines) + "\n"


def choose_file(page, text: str, name: str = "mine.csv") -> None:
    """Click the page's own file button, as a person does, and pick the file in the chooser."""
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("upload-choose").click()
    chooser.value.set_files({"name": name, "mimeType": "text/csv", "buffer": text.encode()})


def drop_file(page, text: str, name: str) -> None:
    transfer = page.evaluate_handle(
        """([text, name]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, { type: "text/csv" }));
            return transfer;
        }""", [text, name])
    page.get_by_test_id("upload-drop").dispatch_event("drop", {"dataTransfer": transfer})


def test_a_chosen_file_is_previewed_selected_trained_and_kept_in_the_link(page, live_server):
    open_playground(page, live_server, FAST)
    choose_file(page, csv_text())
    expect(page.get_by_test_id("upload-status")).to_have_text(
        f"mine.csv: {ROWS} rows, 2 features, 2 classes.")
    preview = page.get_by_test_id("upload-preview")
    expect(preview.locator("th")).to_have_text(["width", "height", "label"])
    expect(preview.locator("tr")).to_have_count(6)
    expect(page.get_by_test_id("upload-classes")).to_contain_text("in ×")
    dataset = page.get_by_test_id("dataset")
    expect(dataset).to_have_value(re.compile(r"^upload:[A-Za-z0-9_-]{16,}$"))
    expect(dataset.locator("option:checked")).to_have_text(f"mine.csv ({ROWS} rows)")
    expect(page.locator("#f-samples")).to_have_value(str(ROWS))
    chosen = dataset.input_value()
    expect(page).to_have_url(re.compile(f"dataset={re.escape(chosen)}"))

    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.get_by_test_id("epoch")).to_have_text("30")
    expect(page.get_by_test_id("boundary-map")).to_have_attribute("data-epoch", "30")

    link = page.url
    page.goto("about:blank")
    page.goto(link)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("dataset")).to_have_value(chosen)
    selected = page.get_by_test_id("dataset").locator("option:checked")
    expect(selected).to_have_text(f"uploaded data ({ROWS} rows)")
    expect(page.get_by_test_id("upload-preview").locator("th")).to_have_count(3)


def test_a_dropped_file_is_taken_and_a_bad_one_is_told_where_it_is_wrong(page, live_server):
    open_playground(page, live_server, FAST)
    bad = "a,b,label\n1,2,x\n3,oops,y\n"
    drop_file(page, bad, "bad.csv")
    expect(page.get_by_test_id("upload-status")).to_have_text(
        "bad.csv: line 3, column b: 'oops' is not a number")
    expect(page.get_by_test_id("dataset")).to_have_value("circles")
    drop_file(page, csv_text(80), "dropped.csv")
    expect(page.get_by_test_id("upload-status")).to_have_text("dropped.csv: 80 rows, 2 features, 2 classes.")
    expect(page.get_by_test_id("dataset").locator("option:checked")).to_have_text("dropped.csv (80 rows)")


def test_a_bad_file_is_told_in_korean_on_a_korean_page(page, live_server):
    open_playground(page, live_server, FAST, path="/?lang=ko")
    # The page's own file button, not the browser's (which speaks the browser's language).
    expect(page.get_by_test_id("upload-choose")).to_have_text("CSV 파일 선택")
    drop_file(page, "a,b,label\n1,2,x\n3,oops,y\n", "bad.csv")
    status = page.get_by_test_id("upload-status")
    expect(status).to_have_text("bad.csv: 3번째 줄, b 열: 'oops' 는 숫자가 아니다")
    choose_file(page, "a,b,label\n" + "".join(f"{i},{i},same\n" for i in range(30)), "one.csv")
    expect(status).to_have_text(
        "one.csv: label 열: 모든 행의 label 이 'same' 이다. 데이터 set 에는 최소 2개의 class 가 필요하다")


def test_settings_that_do_nothing_for_an_upload_are_switched_off_with_the_reason(page, live_server):
    open_playground(page, live_server, FAST)
    noise, reason = page.locator("#f-noise"), page.get_by_test_id("off-reason-noise")
    regenerate = page.get_by_test_id("regenerate-data")
    expect(noise).to_be_enabled()
    expect(reason).to_be_hidden()
    expect(regenerate).to_have_text("Regenerate data", use_inner_text=True)
    choose_file(page, csv_text())
    expect(page.get_by_test_id("dataset")).to_have_value(re.compile("^upload:"))
    expect(noise).to_be_disabled()
    expect(reason).to_have_text("Your own data are used as they are: no noise is added.")
    expect(noise).to_have_attribute("aria-describedby", "o-noise")
    expect(regenerate).to_have_text("New split", use_inner_text=True)  # a data seed reshuffles the rows
    squared = page.get_by_test_id("features").locator('[data-feature="x1_squared"]')
    squared.click()
    expect(page.get_by_test_id("message")).to_contain_text("Input features are for the generated data sets")
    expect(squared).to_have_attribute("aria-pressed", "false")
    assert "x1_squared" not in page.url
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    page.get_by_test_id("reset").click()
    expect(noise).to_be_disabled()  # unlocking after a run keeps it off
    page.get_by_test_id("dataset").select_option("moons")
    expect(noise).to_be_enabled()
    expect(reason).to_be_hidden()
    expect(regenerate).to_have_text("Regenerate data", use_inner_text=True)
    rotation = page.locator("#f-rotation")
    page.locator("#f-augment").check()
    expect(rotation).to_be_enabled()
    wide = "a,b,c,label\n" + "".join(f"{i},{i % 7},{i % 3},{i % 2}\n" for i in range(40))
    choose_file(page, wide, "wide.csv")
    expect(page.get_by_test_id("upload-status")).to_have_text("wide.csv: 40 rows, 3 features, 2 classes.")
    expect(rotation).to_be_disabled()
    expect(page.get_by_test_id("off-reason-rotation")).to_contain_text("only the jitter applies")
    expect(page.locator("#f-jitter")).to_be_enabled()


def three_class_csv(rows: int = 150) -> str:
    """Two features, three classes in blobs at three corners of a triangle."""
    corners = {"north": (0.0, 3.0), "west": (-3.0, -1.5), "east": (3.0, -1.5)}
    lines = ["u,v,label"]
    for index in range(rows):
        name = list(corners)[index % 3]
        cx, cy = corners[name]
        spread = index // 3
        lines.append(f"{cx + (spread % 7 - 3) / 6:.2f},{cy + (spread * 5 % 11 - 5) / 8:.2f},{name}")
    return "\n".join(lines) + "\n"


# The share of the map's pixels in each 30-degree hue sector (near-white pixels left out).
MAP_HUES = """(canvas) => {
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    const sectors = new Array(12).fill(0);
    for (let at = 0; at < data.length; at += 4) {
        const [r, g, b] = [data[at], data[at + 1], data[at + 2]];
        const high = Math.max(r, g, b), low = Math.min(r, g, b);
        if (high - low < 20) continue;
        const span = high - low;
        let hue = high === r ? (g - b) / span : high === g ? 2 + (b - r) / span : 4 + (r - g) / span;
        hue = ((hue * 60) + 360) % 360;
        sectors[Math.floor(hue / 30)] += 1;
    }
    return sectors.map((count) => count / (data.length / 4));
}"""


def test_a_three_class_two_feature_upload_draws_class_regions_with_a_legend(page, live_server):
    open_playground(page, live_server,
                    "epochs=60&speed=1000&boundaryEvery=10&optimizer=adam&learningRate=0.03")
    choose_file(page, three_class_csv(), "blobs.csv")
    expect(page.get_by_test_id("upload-status")).to_have_text("blobs.csv: 150 rows, 2 features, 3 classes.")
    expect(page.get_by_test_id("boundary-chart")).to_be_visible()
    expect(page.get_by_test_id("confusion-chart")).to_be_hidden()
    expect(page.get_by_test_id("boundary-legend").locator("li")).to_have_text(["east", "north", "west"])
    expect(page.get_by_test_id("boundary-points")).to_have_attribute("data-points", "90")  # the train points
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.get_by_test_id("neuron-map").first).to_be_visible()
    board = page.get_by_test_id("boundary-map")
    expect(board).to_have_attribute("data-epoch", "60")
    expect(board).to_have_attribute("data-classes", "3")
    expect(board).to_be_visible()
    hues = board.evaluate(MAP_HUES)
    # Orange, blue and green regions, each a good part of the plane.
    assert sum(share > 0.08 for share in hues) >= 3, hues
    _, body = downloaded(page, "png-boundary-chart")
    counts = legend_pixels(page, "boundary-legend", body, ["#e8833a", "#2f6db5", "#3a9b76"])
    assert min(counts.values()) >= 10, counts  # three class dots and their names


def test_an_upload_of_more_than_two_features_gets_the_confusion_matrix_named_for_it(page, live_server):
    open_playground(page, live_server, FAST)
    rows = "".join(f"{i % 7},{i % 5},{i % 3},{'a' if i % 7 < 3 else 'b'}\n" for i in range(90))
    choose_file(page, "u,v,w,label\n" + rows, "three.csv")
    expect(page.get_by_test_id("upload-status")).to_have_text("three.csv: 90 rows, 3 features, 2 classes.")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.get_by_test_id("confusion-chart")).to_be_visible()
    expect(page.get_by_test_id("boundary-chart")).to_be_hidden()
    # A table's rows are not pictures: no "misclassified digits" for an upload.
    expect(page.locator("#boundary-caption")).to_have_text("Dev confusion matrix")
    expect(page.get_by_test_id("misclassified")).to_be_hidden()


def downloaded(page, testid: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.get_by_test_id(testid).click()
    download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def test_the_run_its_network_and_its_charts_download_as_files(page, live_server):
    open_playground(page, live_server, f"{FAST}&layers=6-relu-bn,4-tanh")
    expect(page.get_by_test_id("download-json")).to_have_attribute("aria-disabled", "true")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.get_by_test_id("download-json")).not_to_have_attribute("aria-disabled", "true")

    name, body = downloaded(page, "download-metrics")
    assert name.endswith("-metrics.csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [int(row["epoch"]) for row in rows] == list(range(31))
    assert {"train_loss", "dev_accuracy", "grad_norm_3"} <= set(rows[0])

    name, body = downloaded(page, "download-json")
    model = json.loads(body)
    assert name.endswith("-model.json") and [layer["units"] for layer in model["layers"]] == [6, 4, 1]
    assert model["layers"][0]["batch_norm"]["running_var"]

    name, body = downloaded(page, "download-pytorch")
    assert name.endswith("_model.py")
    source = body.decode()
    ast.parse(source)
    assert "nn.BatchNorm1d(6, eps=1e-05, momentum=0.1)" in source and "def normalize(X):" in source

    for chart in ("loss-chart", "boundary-chart"):
        name, body = downloaded(page, f"png-{chart}")
        assert name == f"{chart}.png" and body[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(body) > 2000  # axes and curves, not an empty card


# The colours of the pixels of a downloaded chart PNG inside the legend's box on the page,
# counted to the nearest of ``colors`` (hex) or "other" (near-white background aside).
LEGEND_PIXELS = """async ([png, legendTestid, colors]) => {
    const legend = document.querySelector(`[data-testid="${legendTestid}"]`);
    const card = legend.closest(".chart-card");
    const image = new Image();
    image.src = `data:image/png;base64,${png}`;
    await image.decode();
    const scale = image.width / card.getBoundingClientRect().width;
    const canvas = document.createElement("canvas");
    canvas.width = image.width;
    canvas.height = image.height;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const box = legend.getBoundingClientRect(), frame = card.getBoundingClientRect();
    const { data } = context.getImageData(
        Math.floor((box.left - frame.left) * scale), Math.floor((box.top - frame.top) * scale),
        Math.ceil(box.width * scale), Math.ceil(box.height * scale));
    const targets = colors.map((hex) => [1, 3, 5].map((at) => parseInt(hex.slice(at, at + 2), 16)));
    const counts = Object.fromEntries([...colors, "other"].map((name) => [name, 0]));
    for (let at = 0; at < data.length; at += 4) {
        const pixel = [data[at], data[at + 1], data[at + 2]];
        if (Math.min(...pixel) > 235) continue;
        const near = targets.findIndex(
            (rgb) => rgb.every((channel, index) => Math.abs(channel - pixel[index]) < 40));
        counts[near >= 0 ? colors[near] : "other"] += 1;
    }
    return counts;
}"""


def legend_pixels(page, legend: str, png: bytes, colors: list[str]) -> dict:
    return page.evaluate(LEGEND_PIXELS, [base64.b64encode(png).decode(), legend, colors])


def test_a_chart_png_carries_the_legend_beside_the_chart(page, live_server):
    open_playground(page, live_server, FAST)
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.get_by_test_id("loss-chart-legend").locator("li")).to_have_count(3)
    _, body = downloaded(page, "png-loss-chart")
    counts = legend_pixels(page, "loss-chart-legend", body, ["#2f6db5", "#e8833a"])
    # the train (blue) and dev (orange) swatches, and the names in dark text
    assert counts["#2f6db5"] >= 10 and counts["#e8833a"] >= 10 and counts["other"] >= 50, counts


def test_a_click_on_the_boundary_adds_a_point_of_the_chosen_class(page, live_server):
    open_playground(page, live_server, FAST)
    expect(page.get_by_test_id("add-points")).to_be_hidden()  # built-in data: nothing to add to
    choose_file(page, csv_text())
    expect(page.get_by_test_id("upload-status")).to_contain_text(f"{ROWS} rows")
    first = page.get_by_test_id("dataset").input_value()
    points = page.get_by_test_id("boundary-points")
    expect(points).to_have_attribute("data-points", "72")  # the 72 train points of 120
    page.get_by_test_id("add-points").check()
    page.get_by_test_id("add-points-class").select_option(label="in")
    page.get_by_test_id("boundary-chart").click(position={"x": 200, "y": 150})
    selected = page.get_by_test_id("dataset").locator("option:checked")
    expect(selected).to_have_text(f"mine.csv ({ROWS + 1} rows)")
    expect(page.locator("#f-samples")).to_have_value(str(ROWS + 1))
    expect(points).to_have_attribute("data-points", "73")
    assert page.get_by_test_id("dataset").input_value() != first
    expect(page.get_by_test_id("dataset").locator("option")).to_have_count(7)  # six built-ins and this one
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
