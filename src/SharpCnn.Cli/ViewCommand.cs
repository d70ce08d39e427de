using System.CommandLine;
using SharpCnn.Web.Live;

namespace SharpCnn.Cli;

/// <summary>
/// <c>sharpcnn view FILE</c>: the live training page, replaying a finished run from the JSON Lines that
/// <c>train --json</c> wrote (its settings, step curve, per-layer statistics, epochs, final confusion matrix) or from a
/// checkpoint (the model, where the run stood and its epoch's running loss and accuracy, the first layer's kernels:
/// a checkpoint records no finished epochs). Serves until interrupted (Ctrl-C).
/// </summary>
internal static class ViewCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "A JSON Lines log of train --json, or a checkpoint (.scnn)" };
        var port = new Option<int>("--port") { Description = "The page's port (0 = any free one)", HelpName = "N" }.AtLeast(0);
        var seconds = new Option<double>("--for") { Description = "Serve for this many seconds, then exit (0 = until Ctrl-C)", HelpName = "SECONDS" }.ZeroOrPositive();
        var command = new Command("view", "Serve the live training page replaying a finished run from its train --json log or a checkpoint, until interrupted") { file, port, seconds };
        command.SetAction((r, cancellation) => Task.FromResult(CommandErrors.Run(r.InvocationConfiguration.Error, () =>
        {
            if (r.GetValue(port) > 65535) throw new ArgumentException($"--port must be 0 to 65535, not {r.GetValue(port)}");
            string path = r.GetValue(file)!;
            var events = new LiveEventLog();
            string what = LiveReplay.Load(path, events);
            LiveServer server;
            try
            {
                server = LiveServer.StartAsync(events, null, r.GetValue(port)).GetAwaiter().GetResult();
            }
            catch (IOException e)
            {
                throw new ArgumentException($"--port {r.GetValue(port)}: {e.Message}", e);
            }
            try
            {
                r.InvocationConfiguration.Output.WriteLine($"{path}: {what}");
                double serve = r.GetValue(seconds);
                r.InvocationConfiguration.Output.WriteLine($"live page: {server.Url} ({(serve > 0 ? $"for {serve:G4} s" : "Ctrl-C to stop")})");
                r.InvocationConfiguration.Output.Flush();
                if (serve > 0) cancellation.WaitHandle.WaitOne(TimeSpan.FromSeconds(Math.Min(serve, int.MaxValue / 1000.0)));
                else cancellation.WaitHandle.WaitOne();
            }
            finally
            {
                server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            return 0;
        })));
        return command;
    }
}
