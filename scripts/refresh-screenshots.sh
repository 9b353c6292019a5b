#!/usr/bin/env bash
# Refresh the README's screenshots: run the UI tests that take screenshots (CellflowPage.screenshot
# writes ui-tests/artifacts/NAME.png) and copy the PNGs to docs/screenshots/, which is committed.
# Nothing is copied unless every one of those tests passed, so the docs never show a broken state.
#   scripts/refresh-screenshots.sh            all specs that take screenshots
#   scripts/refresh-screenshots.sh tests/tutorial.spec.ts   only these (paths relative to ui-tests/)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/.venv/bin:$PATH"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
cd "$ROOT/ui-tests"

if [ $# -gt 0 ]; then
  specs=("$@")
else
  mapfile -t specs < <(grep -l 'screenshot(' tests/*.spec.ts)
fi
if [ ${#specs[@]} -eq 0 ]; then
  echo "refresh-screenshots: no UI test takes a screenshot (grep 'screenshot(' in ui-tests/tests)" >&2
  exit 1
fi

# Old images must not pass for new ones: start from an empty artifacts folder.
mkdir -p artifacts
rm -f artifacts/*.png
# One Playwright run per spec: each starts from a fresh server, store and lab profile, so a screenshot
# never depends on what another spec left behind (a login, say).
for spec in "${specs[@]}"; do
  echo "refresh-screenshots: $spec"
  npx playwright test "$spec"
done

shopt -s nullglob
pngs=(artifacts/*.png)
if [ ${#pngs[@]} -eq 0 ]; then
  echo "refresh-screenshots: the tests passed but wrote no ui-tests/artifacts/*.png" >&2
  exit 1
fi
mkdir -p "$ROOT/docs/screenshots"
cp "${pngs[@]}" "$ROOT/docs/screenshots/"
echo "refresh-screenshots: copied ${#pngs[@]} screenshots to docs/screenshots/:"
printf '  %s\n' "${pngs[@]##*/}"
