# Writes the bytes of IN as a C array into OUT:
#   const unsigned char sh_webui_page[] = {...}; const unsigned long sh_webui_page_len;
# cmake -DIN=web/index.html -DOUT=build/webui_page.c -P scripts/embed_file.cmake
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" body "${body}")
file(WRITE ${OUT} "/* generated from ${IN}: do not edit */\n"
  "extern const unsigned char sh_webui_page[];\n"
  "extern const unsigned long sh_webui_page_len;\n"
  "const unsigned char sh_webui_page[] = {\n${body}0};\n"
  "const unsigned long sh_webui_page_len = ${len};\n")
