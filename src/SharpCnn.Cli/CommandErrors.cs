using System.CommandLine;
using System.Text.RegularExpressions;
using SharpCnn.Formats;
using SharpCnn.Layers;
using SharpCnn.Model;

namespace SharpCnn.Cli;

/// <summary>
/// Turns every failure into one line on standard error and a non-zero exit code, never a stack
/// trace: a command line that does not parse, or an error the user can fix (a bad option value,
/// spec or path, a missing or damaged file), gives <c>error: ...</c> and exit code 2; a save the file system
/// refused (<see cref="SaveFailedException"/>: a full disk, a read-only folder) exit code 74; anything
/// else (a bug) gives one line naming the exception and exit code 70, with the stack trace only
/// when the environment variable SHARPCNN_DEBUG is set.
/// </summary>
internal static partial class CommandErrors
{
    /// <summary>Exit code of a command the user got wrong (a bad option value, a missing or damaged file).</summary>
    public const int UserError = 2;

    /// <summary>Exit code of a save the file system refused (full, read-only): EX_IOERR. The previous file is intact.</summary>
    public const int SaveError = 74;

    /// <summary>Exit code of an unexpected failure (a bug): EX_SOFTWARE.</summary>
    public const int InternalError = 70;

    /// <summary>
    /// Parses and runs <paramref name="args"/> (no arguments: the help). A command line that does not parse
    /// (an unknown option, a value of the wrong type or range, a missing argument) gets one line on standard
    /// error with its errors, a likely correction of a mistyped name and a pointer to the command's help, and
    /// exit code 2.
    /// </summary>
    public static int Invoke(RootCommand root, string[] args, InvocationConfiguration? configuration = null)
    {
        configuration ??= new InvocationConfiguration();
        configuration.EnableDefaultExceptionHandler = false; // exceptions come to Run, which keeps them to one line
        TextWriter error = configuration.Error ?? Console.Error;
        if (args.Length == 0) args = ["--help"];
        var result = root.Parse(args);
        if (result.Errors.Count == 0) return Run(error, () => result.Invoke(configuration));
        var command = result.CommandResult.Command;
        string name = command is RootCommand ? "sharpcnn" : $"sharpcnn {command.Name}";
        var messages = result.Errors.Select(e => Whitespace().Replace(e.Message, " ").Trim()).Select(m => m.EndsWith('.') ? m : m + ".").ToList();
        if (messages.Count > 1) messages.RemoveAll(m => m.StartsWith("Required command was not provided", StringComparison.Ordinal));
        string suggestion = Suggestion(command, result.UnmatchedTokens);
        error.WriteLine($"error: {string.Join(" ", messages)}{suggestion} Run '{name} --help' to see the options.");
        return UserError;
    }

    /// <summary>Runs <paramref name="body"/>, writing failures to <paramref name="error"/> as one line <c>error: message</c>.</summary>
    public static int Run(TextWriter error, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (SaveFailedException e)
        {
            error.WriteLine($"error: {OneLine(e)}");
            return SaveError;
        }
        catch (Exception e) when (IsUserError(e))
        {
            error.WriteLine($"error: {OneLine(e)}");
            return UserError;
        }
        catch (OperationCanceledException)
        {
            error.WriteLine("error: cancelled");
            return UserError;
        }
        catch (Exception e)
        {
            error.WriteLine($"error: unexpected {e.GetType().Name}: {OneLine(e)} (set SHARPCNN_DEBUG=1 for the stack trace; please report it)");
            if (Environment.GetEnvironmentVariable("SHARPCNN_DEBUG") is { Length: > 0 }) error.WriteLine(e);
            return InternalError;
        }
    }

    /// <summary>True for the exceptions that mean bad input rather than a bug.</summary>
    public static bool IsUserError(Exception e) =>
        e is ModelSpecException or FileFormatException or FileNotFoundException or DirectoryNotFoundException
            or LayerShapeException or ArgumentException or IOException or UnauthorizedAccessException
            or NotSupportedException or OutOfMemoryException;

    /// <summary>The message on one line, without .NET's "(Parameter 'x')" and "Actual value was" additions.</summary>
    public static string OneLine(Exception e)
    {
        string message = e.Message;
        if (e is ArgumentException { ParamName: { } parameter })
        {
            int cut = message.IndexOf($" (Parameter '{parameter}')", StringComparison.Ordinal);
            if (cut >= 0) message = message[..cut];
        }
        if (e is MemoryBudgetException) message += "; try a smaller --batch or model";
        else if (e is OutOfMemoryException) message = "out of memory: " + message + " (try a smaller --batch or model)";
        return Whitespace().Replace(message, " ").Trim();
    }

    /// <summary>" Did you mean --epochs?" for a mistyped option or command name, or nothing.</summary>
    private static string Suggestion(Command command, IReadOnlyList<string> unmatched)
    {
        var names = command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)).Concat(command.Subcommands.Select(c => c.Name)).Where(n => n.Length > 2).ToList();
        foreach (string token in unmatched)
        {
            var close = names.Where(n => Distance(token, n) <= Math.Max(2, n.Length / 4)).OrderBy(n => Distance(token, n)).ToList();
            if (close.Count > 0) return $" Did you mean {close[0]}?";
        }
        return "";
    }

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1], previous[j]) + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
