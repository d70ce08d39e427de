using SharpCnn.Io;
using SharpCnn.Layers;
using SharpCnn.Model;

namespace SharpCnn.Cli;

/// <summary>Runs a command body and turns the errors a user can cause into one clear line and exit code 2.</summary>
internal static class CommandErrors
{
    public const int UserError = 2;

    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is ModelSpecException or FileFormatException or FileNotFoundException or DirectoryNotFoundException
                                   or LayerShapeException or ArgumentException or IOException or UnauthorizedAccessException
                                   or NotSupportedException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return UserError;
        }
    }
}
