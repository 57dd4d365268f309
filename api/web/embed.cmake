# Turns a file into a C++ initializer list of bytes: cmake -DIN=file -DOUT=file.inc -P embed.cmake
# (used by api/CMakeLists.txt to compile the web page into the ragd binary).
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
file(WRITE "${OUT}.tmp" "${bytes}\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
