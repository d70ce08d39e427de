using System.Reflection;

namespace SharpCnn.Web;

/// <summary>The pages, scripts and styles the web front serves, embedded in this assembly (wwwroot/).</summary>
public static class WebAssets
{
    private static readonly Assembly Self = typeof(WebAssets).Assembly;
    private const string Prefix = "SharpCnn.Web.wwwroot.";

    /// <summary>The names of every embedded asset, as relative paths with '/' (e.g. "live/index.html").</summary>
    public static IReadOnlyList<string> Names { get; } =
        Self.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal))
            .Select(n => n[Prefix.Length..]).Order(StringComparer.Ordinal).ToArray();

    /// <summary>The bytes of the asset called <paramref name="name"/>, or null when there is none.</summary>
    public static byte[]? Read(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        using var stream = Self.GetManifestResourceStream(Prefix + name);
        if (stream is null) return null;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>The Content-Type to serve an asset with, from its extension.</summary>
    public static string ContentType(string name) => Path.GetExtension(name).ToLowerInvariant() switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" or ".mjs" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        ".json" => "application/json",
        _ => "application/octet-stream",
    };
}
