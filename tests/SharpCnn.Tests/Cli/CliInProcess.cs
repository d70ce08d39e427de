// Runs the sharpcnn command line inside the test process, its standard output and error
// captured through the invocation configuration (nothing process-wide is redirected).

using System.CommandLine;
using SharpCnn.Cli;

namespace SharpCnn.Tests.Cli;

internal static class CliInProcess
{
    public static (int ExitCode, string[] Stdout, string[] Stderr) Run(string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exitCode = CommandLine.Run(args, new InvocationConfiguration { Output = output, Error = error });
        return (exitCode, Lines(output), Lines(error));
    }

    private static string[] Lines(StringWriter writer) => writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
}
