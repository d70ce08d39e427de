#:project ../src/SharpCnn/SharpCnn.csproj
// Checks a headless-Chromium screenshot of .ci/render-check.html (the loss chart above the
// confusion-matrix PNG that 'sharpcnn train --plots' wrote): the browser must have drawn the loss
// chart's smoothed and per-epoch training lines (blue) and its test line (red) in their legend
// colours, and the confusion matrix's dark diagonal cells.
// Usage: dotnet run .ci/render-check.cs -- SCREENSHOT.png
using SharpCnn.Data;

var shot = PngReader.Read(args[0]);
(string What, byte R, byte G, byte B, int Needed)[] colours =
[
    ("the training loss: smoothed per step and per epoch (#1f77b4)", 0x1f, 0x77, 0xb4, 200),
    ("the test loss per epoch (#d62728)", 0xd6, 0x27, 0x28, 200),
    ("the confusion matrix's diagonal (dark blue, 8 48 107)", 8, 48, 107, 2000),
];
int failures = 0;
foreach (var (what, r, g, b, needed) in colours)
{
    int count = 0;
    for (int i = 0; i < shot.Width * shot.Height; i++)
    {
        int o = 4 * i;
        if (Math.Abs(shot.Rgba[o] - r) <= 24 && Math.Abs(shot.Rgba[o + 1] - g) <= 24 && Math.Abs(shot.Rgba[o + 2] - b) <= 24) count++;
    }
    bool ok = count >= needed;
    Console.WriteLine($"{(ok ? "ok  " : "FAIL")} {what}: {count} pixels (at least {needed} expected)");
    if (!ok) failures++;
}
Console.WriteLine($"screenshot {shot.Width}x{shot.Height}: {(failures == 0 ? "both PNGs rendered" : "something did not render")}");
return failures == 0 ? 0 : 1;
