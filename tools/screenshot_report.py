"""Open the Snakemake HTML report in headless Chromium, show each figure, save screenshots.

A check for people, not a test: it proves the report opens in a real browser and that its
figures render. Needs Chromium and its driver from Debian's packages and Selenium from PyPI
(outside the project's environment is fine):

    apt-get install -y --no-install-recommends chromium chromium-driver
    python3 -m venv /tmp/sel && /tmp/sel/bin/pip install selenium
    snakemake --report results/report.html
    /tmp/sel/bin/python tools/screenshot_report.py [--report results/report.html] [--out docs]

Writes ``<out>/report_home.png`` and one ``<out>/report_<figure>.png`` per figure, and prints
each figure's rendered size (an image of 0 px would mean it did not load).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report", default="results/report.html")
    ap.add_argument("--out", default="docs")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--driver", default="/usr/bin/chromedriver")
    a = ap.parse_args()
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.binary_location = a.chromium
    d = webdriver.Chrome(options=opts, service=webdriver.ChromeService(a.driver))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        d.get(Path(a.report).resolve().as_uri())
        time.sleep(3)
        d.save_screenshot(str(out / "report_home.png"))
        d.find_element(By.XPATH, "//*[normalize-space(text())='Figures']").click()
        time.sleep(2)
        names = list(dict.fromkeys(  # each figure once, in the menu's order
            e.text for e in d.find_elements(By.XPATH, "//td[contains(text(), '.png')]")))
        for name in names:
            row = d.find_elements(By.XPATH, f"//*[normalize-space(text())='{name}']")[0]
            row.find_element(By.XPATH, "./..").find_elements(By.TAG_NAME, "a")[0].click()
            time.sleep(3)
            sizes = [(i.size["width"], i.size["height"]) for i in d.find_elements(By.TAG_NAME, "img")
                     if i.size["width"] > 100]
            shot = out / f"report_{Path(name).stem}.png"
            d.save_screenshot(str(shot))
            print(f"{name}: rendered {sizes} -> {shot}")
    finally:
        d.quit()


if __name__ == "__main__":
    main()
