using System.Text.Json;
using Spectre.Console;

namespace SharpCnn.Cli;

/// <summary>How a command writes: a live Spectre.Console display in an interactive terminal, plain lines otherwise, or JSON.</summary>
internal static class Terminal
{
    /// <summary>
    /// A Spectre console over <paramref name="output"/> and whether it may show live progress bars: only
    /// when <paramref name="output"/> is the process's own standard output, that output is not redirected
    /// (a pipe or file), and Spectre finds an interactive, ANSI-capable terminal (it says no under CI=true
    /// and similar build-server variables).
    /// </summary>
    public static IAnsiConsole Create(TextWriter output, out bool live)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.Detect,
            Interactive = InteractionSupport.Detect,
        });
        live = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected
            && console.Profile.Capabilities.Interactive && console.Profile.Capabilities.Ansi;
        return console;
    }

    /// <summary>JSON Lines settings: snake_case names, one compact object per line.</summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = false,
    };

    /// <summary>Writes <paramref name="value"/> as one line of JSON.</summary>
    public static void WriteJsonLine(TextWriter output, object value)
    {
        output.WriteLine(JsonSerializer.Serialize(value, Json));
        output.Flush();
    }

    /// <summary>A finite number, or null (JSON has no NaN or infinity).</summary>
    public static double? Finite(double value) => double.IsFinite(value) ? value : null;
}
