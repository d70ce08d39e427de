using Microsoft.Playwright;

namespace SharpCnn.Web.Tests;

/// <summary>
/// A headless Chromium for the browser tests: Playwright for .NET driving the system's chromium
/// (Debian's package at /usr/bin/chromium, or SHARPCNN_CHROMIUM), since no browser can be downloaded here.
/// A missing browser fails the test with what to install; it never skips.
/// </summary>
internal static class Browsers
{
    public static string ChromiumPath()
    {
        string? path = Environment.GetEnvironmentVariable("SHARPCNN_CHROMIUM");
        if (string.IsNullOrEmpty(path)) path = "/usr/bin/chromium";
        if (!File.Exists(path))
            Assert.Fail($"no Chromium at {path}: install Debian's chromium package (apt-get install chromium) or set SHARPCNN_CHROMIUM to a Chromium executable");
        return path;
    }

    /// <summary>Starts Playwright and a headless Chromium; dispose both (the browser first).</summary>
    public static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath(),
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            Timeout = 60_000,
        });
        return (playwright, browser);
    }

    /// <summary>A screenshot saved for CI's artefacts (under TestResults/screenshots, or SHARPCNN_SCREENSHOTS), after checking that it is not blank.</summary>
    public static async Task<string> ScreenshotAsync(IPage page, string name)
    {
        string folder = Environment.GetEnvironmentVariable("SHARPCNN_SCREENSHOTS") is { Length: > 0 } dir ? dir : Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, name + ".png");
        byte[] png = await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        Assert.True(png.Length > 1000, $"the screenshot {path} is {png.Length} bytes: blank or broken");
        return path;
    }
}
