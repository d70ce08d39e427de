using System.CommandLine;
using System.CommandLine.Invocation;
using SharpCnn.Io;
using SharpCnn.Layers;
using SharpCnn.Model;

namespace SharpCnn.Cli;

/// <summary>Runs a command body and turns the errors a user can cause into one clear line and exit code 2.</summary>
internal static class CommandErrors
{
    /// <summary>
    /// Parses and runs <paramref name="args"/>. A command line that does not parse (an unknown option, a
    /// value of the wrong type, a missing argument) gets its errors and typo corrections on standard error,
    /// a pointer to the command's help instead of the whole help text, and exit code 2.
    /// </summary>
    public static int Invoke(RootCommand root, string[] args, InvocationConfiguration? configuration = null)
    {
        var result = root.Parse(args);
        if (result.Errors.Count == 0) return result.Invoke(configuration);
        if (result.Action is ParseErrorAction action) action.ShowHelp = false;
        result.Invoke(configuration);
        string command = result.CommandResult.Command is RootCommand ? "sharpcnn" : $"sharpcnn {result.CommandResult.Command.Name}";
        (configuration?.Error ?? Console.Error).WriteLine($"Run '{command} --help' to see the options.");
        return UserError;
    }

    /// <summary>Exit code of a command the user got wrong (a bad option value, a missing or damaged file).</summary>
    public const int UserError = 2;

    /// <summary>Runs <paramref name="body"/>, writing user errors to standard error.</summary>
    public static int Run(Func<int> body) => Run(Console.Error, body);

    /// <summary>Runs <paramref name="body"/>, writing user errors to <paramref name="error"/> as <c>error: message</c>.</summary>
    public static int Run(TextWriter error, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (IsUserError(e))
        {
            error.WriteLine($"error: {e.Message}");
            return UserError;
        }
    }

    /// <summary>True for the exceptions that mean bad input rather than a bug.</summary>
    public static bool IsUserError(Exception e) =>
        e is ModelSpecException or FileFormatException or FileNotFoundException or DirectoryNotFoundException
            or LayerShapeException or ArgumentException or IOException or UnauthorizedAccessException
            or NotSupportedException;
}
