using System.CommandLine;
using SharpCnn.Io;
using SharpCnn.Layers;
using SharpCnn.Model;

namespace SharpCnn.Cli;

/// <summary>
/// Turns every failure into one line on stderr and a non-zero exit code, never a stack trace:
/// a parse error or an error the user can fix (bad option, spec, path or file) gives
/// <c>error: ...</c> and exit code 2; anything else (a bug) gives one line naming the
/// exception and exit code 70, with the stack trace only when SHARPCNN_DEBUG is set.
/// </summary>
internal static partial class CommandErrors
{
    public const int UserError = 2;
    public const int InternalError = 70;

    /// <summary>Runs a command body, reporting what it throws.</summary>
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (IsUserError(e))
        {
            Console.Error.WriteLine($"error: {OneLine(e)}");
            return UserError;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("error: cancelled");
            return UserError;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"error: unexpected {e.GetType().Name}: {OneLine(e)} (set SHARPCNN_DEBUG=1 for the stack trace; please report it)");
            if (Environment.GetEnvironmentVariable("SHARPCNN_DEBUG") is { Length: > 0 }) Console.Error.WriteLine(e);
            return InternalError;
        }
    }

    /// <summary>Parses and runs <paramref name="args"/>; a parse error is one line and exit code 2.</summary>
    public static int Invoke(RootCommand root, string[] args)
    {
        if (args.Length == 0) args = ["--help"];
        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            string command = parse.CommandResult.Command is RootCommand ? "sharpcnn" : $"sharpcnn {parse.CommandResult.Command.Name}";
            var messages = parse.Errors.Select(e => Whitespace().Replace(e.Message, " ").Trim()).ToList();
            if (messages.Count > 1) messages.RemoveAll(m => m.StartsWith("Required command was not provided", StringComparison.Ordinal));
            Console.Error.WriteLine($"error: {string.Join(" ", messages)} (see '{command} --help')");
            return UserError;
        }
        return Run(() => parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false }));
    }

    private static bool IsUserError(Exception e) =>
        e is ModelSpecException or FileFormatException or FileNotFoundException or DirectoryNotFoundException or LayerShapeException
            or ArgumentException or IOException or UnauthorizedAccessException or OutOfMemoryException or NotSupportedException;

    /// <summary>The message on one line, without .NET's "(Parameter 'x')" and "Actual value was" additions.</summary>
    public static string OneLine(Exception e)
    {
        string message = e.Message;
        if (e is ArgumentException { ParamName: { } name })
        {
            int cut = message.IndexOf($" (Parameter '{name}')", StringComparison.Ordinal);
            if (cut >= 0) message = message[..cut];
        }
        if (e is OutOfMemoryException) message = "out of memory: " + message + " (try a smaller --batch or model)";
        return Whitespace().Replace(message, " ").Trim();
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\s+")]
    private static partial System.Text.RegularExpressions.Regex Whitespace();
}
