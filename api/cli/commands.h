// CLI command groups, each registered on the one `ragd` binary by main.cpp.
#pragma once

namespace CLI {
class App;
}

namespace ragd::cli {

// Adds `ragd model ...`: generate, logits, embed, chat (model_commands.cpp),
// and calls add_model_file_commands() for the rest.
void add_model_commands(CLI::App& app);

// Adds `info` and `tokenize` to the `model` subcommand (model_file_commands.cpp).
void add_model_file_commands(CLI::App& model);

}  // namespace ragd::cli
