using System.CommandLine;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Cli;

/// <summary><c>sharpcnn summary</c>: every layer's output shape, parameters and FLOPs.</summary>
internal static class SummaryCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model("A preset, a spec string or a saved .scnn model");
        var input = new Option<string>("--input") { Description = "Input shape CxHxW (ignored when the spec or file has one)", DefaultValueFactory = _ => "1x28x28", HelpName = "CxHxW" };
        var command = new Command("summary", "Show a model's layers, output shapes, parameter counts and FLOPs") { model, input };
        command.SetAction(r => CommandErrors.Run(r.InvocationConfiguration.Error, () =>
        {
            var output = r.InvocationConfiguration.Output;
            var choice = ModelChoice.Resolve(r.GetValue(model)!, null, null);
            var network = choice.Create<float>(ParseShape(r.GetValue(input)!), 1);
            output.WriteLine($"{choice.Label}: {network.Spec}");
            output.WriteLine(ModelSummary.Format(network));
            return 0;
        }));
        return command;
    }

    public static Shape ParseShape(string text)
    {
        var parts = text.Split('x');
        if (parts.Length == 3 && parts.All(p => int.TryParse(p, out int v) && v > 0))
            return new Shape(int.Parse(parts[0]), int.Parse(parts[1]), int.Parse(parts[2]));
        throw new ArgumentException($"--input must look like 1x28x28 (channels x height x width), not '{text}'");
    }
}
